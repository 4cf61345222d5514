#!/usr/bin/env bash
# Prints the Secret dxgate-pki of dxgate.yaml from a PKI folder laid out as
# certs/make-dev-pki.sh writes it (gateways/dxgate-N/ made with
# `make-dev-pki.sh gateway DIR dxgate-N`, people/lb with
# `make-dev-pki.sh person DIR operator lb`).
#   deploy/kubernetes/make-pki-secret.sh var/pki | kubectl -n dxgate apply -f -
set -euo pipefail
pki=${1:?usage: make-pki-secret.sh PKI_DIR}
args=(--from-file=root-ca.pem="$pki/root-ca.pem"
      --from-file=intermediate-ca.pem="$pki/intermediate-ca.pem"
      --from-file=crl.pem="$pki/crl.pem"
      --from-file=lb.tls.pem="$pki/people/lb/tls.pem"
      --from-file=lb.tls.key="$pki/people/lb/tls.key")
for n in 0 1 2; do
  for f in tls.pem tls.key sign.pem sign.key; do
    args+=(--from-file="dxgate-$n.$f=$pki/gateways/dxgate-$n/$f")
  done
done
exec kubectl create secret generic dxgate-pki --namespace dxgate --dry-run=client -o yaml "${args[@]}"
