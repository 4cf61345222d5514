#!/usr/bin/env python3
"""An agency's system calling dxgate, in Python: build a RequestEnvelope,
sign its exact bytes (ECDSA P-256, SHA-256, DER), send it over mutual TLS,
and verify the gateway's signed answer. See docs/INTEGRATION.md.

Needs Debian's python3-grpcio, python3-protobuf and python3-cryptography,
and stubs generated from proto/ (the build puts them in build/python):

  PYTHONPATH=build/python /usr/bin/python3 examples/python/dx_client.py \\
      --gateway 127.0.0.1:8443 --pki var/demo/pki --agency 000.00.00.H30 \\
      --system hotich --dataset bca.population --purpose civil-registration \\
      --query citizen_id=001000000000
"""
import argparse
import hashlib
import json
import os
import sys
import time
import uuid

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import json_format

from dx.v1 import errors_pb2, exchange_pb2, exchange_pb2_grpc

GATEWAY_URI_PREFIX = "urn:dx:gateway:"


def build_envelope(args):
    now = time.time()
    env = exchange_pb2.RequestEnvelope(
        request_id=str(uuid.uuid4()),
        consumer_agency=args.agency,
        consumer_system=args.system,
        dataset_id=args.dataset,
        operation=exchange_pb2.OPERATION_READ,
        purpose_code=args.purpose,
        legal_basis=args.legal_basis,
        fields=args.field,
        data_subject_id=args.subject,
        nonce=os.urandom(16),
    )
    for q in args.query:
        key, _, value = q.partition("=")
        env.query[key] = value
    env.issued_at.FromNanoseconds(int(now * 1e9))
    env.expires_at.FromNanoseconds(int((now + 120) * 1e9))
    return env


def sign_request(envelope_bytes, key_pem, cert_pem):
    key = serialization.load_pem_private_key(key_pem, password=None)
    signature = key.sign(envelope_bytes, ec.ECDSA(hashes.SHA256()))  # DER
    cert = x509.load_pem_x509_certificate(cert_pem)
    return exchange_pb2.SignedRequest(
        envelope=envelope_bytes, signature=signature,
        signer_certificate=cert.public_bytes(serialization.Encoding.DER))


def issued_by(cert, issuer):
    """True when `issuer`'s key signed `cert` (ECDSA CAs)."""
    try:
        issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                   ec.ECDSA(cert.signature_hash_algorithm))
        return cert.issuer == issuer.subject
    except Exception:  # noqa: BLE001 - any failure means "not issued by"
        return False


def verify_response(resp, request_envelope, root, intermediate):
    """Checks the gateway's signature and that the answer is for our request;
    returns the parsed ResponseEnvelope."""
    cert = x509.load_der_x509_certificate(resp.signer_certificate)
    if not (issued_by(cert, intermediate) and issued_by(intermediate, root)):
        raise ValueError("gateway certificate does not chain to the root CA")
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if not any(u.startswith(GATEWAY_URI_PREFIX)
               for u in sans.get_values_for_type(x509.UniformResourceIdentifier)):
        raise ValueError("answer not signed by a gateway certificate")
    cert.public_key().verify(resp.signature, resp.envelope, ec.ECDSA(hashes.SHA256()))
    env = exchange_pb2.ResponseEnvelope()
    env.ParseFromString(resp.envelope)
    if env.request_sha256 != hashlib.sha256(request_envelope).digest():
        raise ValueError("answer is for another request")
    return env


def error_detail(err):
    """The dx.v1.ErrorDetail in a gRPC error's status details, if any."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = errors_pb2.RpcStatus()
            status.ParseFromString(value)
            for any_msg in status.details:
                detail = errors_pb2.ErrorDetail()
                if any_msg.Unpack(detail):
                    return detail
    return None


def main():
    ap = argparse.ArgumentParser(description="Call dxgate as an agency.")
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--pki", required=True, help="dev PKI folder (dxctl pki init)")
    ap.add_argument("--agency", required=True)
    ap.add_argument("--system", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--purpose", required=True)
    ap.add_argument("--legal-basis", default="")
    ap.add_argument("--field", action="append", default=[])
    ap.add_argument("--query", action="append", default=[])
    ap.add_argument("--subject", default="")
    ap.add_argument("--json", action="store_true", help="print the answer as JSON")
    args = ap.parse_args()

    def read(rel):
        with open(os.path.join(args.pki, rel), "rb") as f:
            return f.read()

    agency_dir = f"agencies/{args.agency}"
    envelope = build_envelope(args).SerializeToString()
    request = sign_request(envelope, read(f"{agency_dir}/sign.key"),
                           read(f"{agency_dir}/sign.pem"))
    creds = grpc.ssl_channel_credentials(
        root_certificates=read("root-ca.pem"),
        private_key=read(f"{agency_dir}/tls.key"),
        certificate_chain=read(f"{agency_dir}/tls.pem"))
    with grpc.secure_channel(args.gateway, creds) as channel:
        stub = exchange_pb2_grpc.ExchangeStub(channel)
        try:
            resp = stub.Call(request, timeout=10)
        except grpc.RpcError as err:
            detail = error_detail(err)
            out = {"status": err.code().name, "message": err.details()}
            if detail is not None:
                out["reason"] = errors_pb2.ReasonCode.Name(detail.reason)
                out["legal_basis"] = detail.legal_basis
                out["audit_sequence_number"] = detail.receipt.sequence_number
            print(json.dumps(out, ensure_ascii=False))
            return 1
    root = x509.load_pem_x509_certificate(read("root-ca.pem"))
    intermediate = x509.load_pem_x509_certificate(read("intermediate-ca.pem"))
    env = verify_response(resp, envelope, root, intermediate)
    rows = [dict(zip(env.records.columns, r.values)) for r in env.records.rows]
    if args.json:
        print(json.dumps({"status": "OK", "verified": True, "records": rows,
                          "receipt": json_format.MessageToDict(env.receipt)},
                         ensure_ascii=False))
    else:
        print(f"ALLOWED, gateway signature verified; {len(rows)} record(s); "
              f"audit record #{env.receipt.sequence_number}")
        for row in rows:
            print("  ", row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
