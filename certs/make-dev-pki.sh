#!/usr/bin/env bash
# The development PKI of dxgate, made with the openssl CLI only, so an
# operator can read every step and replace it with a real CA (certs/README.md).
#
#   make-dev-pki.sh init OUT                 root, intermediate, default agencies,
#                                            gateway, adapters, an empty CRL
#   make-dev-pki.sh agency OUT CODE [DAYS] [START END]
#                                            TLS + signing certificates for CODE in
#                                            OUT/agencies/${DX_PKI_FOLDER:-CODE}
#                                            (START/END: YYYYMMDDHHMMSSZ, for tests)
#   make-dev-pki.sh person OUT ROLE NAME     a person's TLS certificate (ROLE: auditor,
#                                            operator, policy-admin) in OUT/people/NAME
#   make-dev-pki.sh gateway OUT NODE [DAYS]  TLS + signing certificates for another gateway
#                                            node of a cluster (or new ones for a node, to
#                                            rotate them), in OUT/gateways/NODE
#   make-dev-pki.sh revoke OUT CERT.pem      revoke CERT and rewrite OUT/crl.pem
#   make-dev-pki.sh crl OUT                  rewrite OUT/crl.pem
#   make-dev-pki.sh etcd-member OUT NAME [SAN]
#                                            etcd's own CA (OUT/etcd/ca.pem, made on first
#                                            use) and a member's server + peer certificate in
#                                            OUT/etcd/members/NAME (SAN: extra subjectAltNames,
#                                            e.g. "DNS:etcd1.example,IP:10.0.0.5")
#   make-dev-pki.sh etcd-client OUT NAME     a client certificate of etcd's CA, for a gateway
#                                            node or etcdctl, in OUT/etcd/clients/NAME
#
# etcd has a CA of its own, apart from the agencies' root: etcd trusts every
# client certificate its CA signed (--client-cert-auth), so a CA shared with
# the agencies would let any agency's TLS certificate read and write the
# cluster's policy, registry and replay keys (certs/README.md#etcd).
#
# Agency identity: the electronic agency code is carried in the certificate's
# subjectAltName as the URI "urn:dx:agency:<CODE>", and nowhere else.
# Gateways carry "urn:dx:gateway:<NODE>", adapters "urn:dx:adapter:<CODE>",
# people "urn:dx:<ROLE>:<NAME>" (auditor, operator, policy-admin).
# All keys are ECDSA P-256.
set -euo pipefail

die() { echo "make-dev-pki: $*" >&2; exit 2; }
cmd=${1:-}; out=${2:-}
[ -n "$cmd" ] && [ -n "$out" ] || die "usage: $0 init|agency|person|gateway|revoke|crl|etcd-member|etcd-client OUT ..."

export DX_SAN="DNS:unused"  # the CA config expands it even where unused
ossl() { openssl "$@" 2>>"$out/openssl.log"; }

newkey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; chmod 600 "$1"; }

write_ca_conf() {
  cat >"$out/ca/openssl.cnf" <<CNF
[ ca ]
default_ca = intermediate
[ intermediate ]
dir = $out/ca
database = \$dir/index.txt
new_certs_dir = \$dir/issued
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $out/intermediate-ca.pem
private_key = $out/intermediate-ca.key
default_md = sha256
default_days = 825
default_crl_days = 30
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
organizationName = optional
[ v3_intermediate ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ tls_client_server ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = \${ENV::DX_SAN}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ signing ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
subjectAltName = \${ENV::DX_SAN}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
}

# issue NAME PROFILE CN SAN [DAYS] [START END]: key + certificate signed by the
# intermediate; the .pem holds the leaf then the intermediate (a chain).
issue() {
  local base=$1 profile=$2 cn=$3 san=$4 days=${5:-825} start=${6:-} end=${7:-}
  mkdir -p "$(dirname "$base")"
  newkey "$base.key"
  ossl req -new -key "$base.key" -subj "/CN=$cn/O=dxgate dev" -out "$base.csr"
  # notBefore an hour back: peers whose clocks lag a little still accept it.
  local dates=(-startdate "$(date -u -d '1 hour ago' +%Y%m%d%H%M%SZ)" -days "$days")
  [ -n "$start" ] && dates=(-startdate "$start" -enddate "$end")
  DX_SAN="$san" ossl ca -batch -config "$out/ca/openssl.cnf" -extensions "$profile" \
    -notext "${dates[@]}" -in "$base.csr" -out "$base.leaf.pem"
  cat "$base.leaf.pem" "$out/intermediate-ca.pem" >"$base.pem"
  rm -f "$base.csr"
}

make_crl() {
  # lastUpdate an hour back, so a gateway whose clock is a little behind the
  # CA's does not see a CRL from the future (and refuse everything).
  local last
  last=$(date -u -d '1 hour ago' +%Y%m%d%H%M%SZ)
  ossl ca -config "$out/ca/openssl.cnf" -gencrl -crl_lastupdate "$last" -out "$out/crl.pem.tmp"
  mv "$out/crl.pem.tmp" "$out/crl.pem"   # atomic: a reader never sees half a CRL
}

issue_agency() {
  local code=$1; shift
  [[ "$code" =~ ^[0-9A-Z]+(\.[0-9A-Z]+)*$ ]] && [ ${#code} -le 35 ] ||
    die "agency code '$code' is not an electronic agency code (e.g. 000.00.00.G01)"
  local dir="$out/agencies/${DX_PKI_FOLDER:-$code}"   # DX_PKI_FOLDER: e.g. a test's expired copy
  issue "$dir/tls" tls_client_server "$code TLS" "URI:urn:dx:agency:$code" "$@"
  issue "$dir/sign" signing "$code signing" "URI:urn:dx:agency:$code" "$@"
}

# issue_gateway DIR NODE: a gateway node's TLS (server and client) and
# signing certificates.
issue_gateway() {
  local days=${3:-825}
  issue "$1/tls" tls_client_server "dxgate $2" \
    "DNS:localhost,IP:127.0.0.1,URI:urn:dx:gateway:$2" "$days"
  issue "$1/sign" signing "dxgate $2 signing" "URI:urn:dx:gateway:$2" "$days"
}

# issue_person ROLE NAME: a TLS client certificate for a person in ROLE.
issue_person() {
  issue "$out/people/$2/tls" tls_client_server "$2 ($1)" "URI:urn:dx:$1:$2"
}

# etcd_ca: etcd's own self-signed CA in OUT/etcd (once); it signs nothing
# but etcd's members and clients.
etcd_ca() {
  local dir="$out/etcd"
  [ -e "$dir/ca.pem" ] && return 0
  mkdir -p "$dir"
  newkey "$dir/ca.key"
  ossl req -x509 -new -key "$dir/ca.key" -sha256 -days 3650 \
    -subj "/CN=Dev etcd CA/O=dxgate dev" \
    -addext "basicConstraints=critical,CA:true,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.pem"
}

# etcd_issue BASE CN EKU SAN: a key and a certificate of etcd's CA.
etcd_issue() {
  local base=$1 cn=$2 eku=$3 san=$4
  mkdir -p "$(dirname "$base")"
  newkey "$base.key"
  ossl req -new -key "$base.key" -subj "/CN=$cn/O=dxgate dev" -out "$base.csr"
  printf '%s\n' "basicConstraints=critical,CA:false" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=$eku" \
    "subjectAltName=$san" "subjectKeyIdentifier=hash" \
    "authorityKeyIdentifier=keyid" >"$base.ext"
  ossl x509 -req -in "$base.csr" -CA "$out/etcd/ca.pem" -CAkey "$out/etcd/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 \
    -extfile "$base.ext" -out "$base.pem"
  rm -f "$base.csr" "$base.ext"
}

case "$cmd" in
  init)
    [ -e "$out/root-ca.pem" ] && die "$out already holds a PKI; remove it first"
    mkdir -p "$out/ca/issued"
    : >"$out/ca/index.txt"; echo 1000 >"$out/ca/serial"; echo 1000 >"$out/ca/crlnumber"
    write_ca_conf
    newkey "$out/root-ca.key"
    ossl req -x509 -new -key "$out/root-ca.key" -sha256 -days 3650 \
      -subj "/CN=Dev National Root CA/O=dxgate dev" \
      -addext "basicConstraints=critical,CA:true" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$out/root-ca.pem"
    newkey "$out/intermediate-ca.key"
    ossl req -new -key "$out/intermediate-ca.key" -subj "/CN=Dev Agency CA/O=dxgate dev" \
      -out "$out/intermediate-ca.csr"
    ossl x509 -req -in "$out/intermediate-ca.csr" -CA "$out/root-ca.pem" \
      -CAkey "$out/root-ca.key" -CAcreateserial -days 1825 -sha256 \
      -extfile "$out/ca/openssl.cnf" -extensions v3_intermediate -out "$out/intermediate-ca.pem"
    rm -f "$out/intermediate-ca.csr"
    # Agencies of the demo: two ministries (providers) and two provinces.
    for code in 000.00.00.G01 000.00.00.G12 000.00.00.H30 000.00.00.H29; do
      issue_agency "$code"
    done
    issue_gateway "$out/gateway" gw1
    for code in 000.00.00.G01 000.00.00.G12; do
      issue "$out/adapters/$code/tls" tls_client_server "adapter $code" \
        "DNS:localhost,IP:127.0.0.1,URI:urn:dx:adapter:$code"
    done
    # People: their TLS client certificates carry their role.
    issue_person auditor auditor1
    issue_person operator ops1
    issue_person policy-admin admin1
    issue_person policy-admin admin2
    make_crl
    echo "dev PKI written to $out"
    ;;
  agency)
    code=${3:-}; [ -n "$code" ] || die "usage: $0 agency OUT CODE [DAYS] [START END]"
    issue_agency "$code" "${@:4}"
    ;;
  person)
    [ -n "${3:-}" ] && [ -n "${4:-}" ] || die "usage: $0 person OUT ROLE NAME"
    issue_person "$3" "$4"
    ;;
  gateway)
    [ -n "${3:-}" ] || die "usage: $0 gateway OUT NODE [DAYS]"
    issue_gateway "$out/gateways/$3" "$3" "${4:-825}"
    ;;
  revoke)
    cert=${3:-}; [ -f "$cert" ] || die "usage: $0 revoke OUT CERT.pem"
    ossl ca -config "$out/ca/openssl.cnf" -revoke "$cert"
    make_crl
    ;;
  crl)
    make_crl
    ;;
  etcd-member)
    name=${3:-}; [ -n "$name" ] || die "usage: $0 etcd-member OUT NAME [SAN]"
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "etcd member name '$name': letters, digits, . _ - only"
    etcd_ca
    san="DNS:localhost,IP:127.0.0.1${4:+,$4}"
    # serverAuth for clients and peers, clientAuth for the peer connections
    # a member opens to the others.
    etcd_issue "$out/etcd/members/$name/tls" "etcd $name" "serverAuth,clientAuth" "$san"
    ;;
  etcd-client)
    name=${3:-}; [ -n "$name" ] || die "usage: $0 etcd-client OUT NAME"
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "etcd client name '$name': letters, digits, . _ - only"
    etcd_ca
    # The CN is the user name etcd sees when its RBAC is on.
    etcd_issue "$out/etcd/clients/$name/tls" "$name" "clientAuth" "URI:urn:dx:etcd-client:$name"
    ;;
  *) die "unknown command '$cmd'" ;;
esac
