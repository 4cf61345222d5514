"""A consumer agency's client for end-to-end tests: signs envelopes as
000.00.00.H30 with the dev PKI's keys and calls the gateway over mutual TLS,
returning records with None for missing values (Row.nulls)."""
import os
import time
import uuid

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from dx.v1 import errors_pb2, exchange_pb2, exchange_pb2_grpc
from grpc_status import detail_of

H30 = "000.00.00.H30"


class Consumer:
    def __init__(self, env, agency=H30):
        self.agency = agency

        def read(p):
            with open(os.path.join(env.pki, p), "rb") as f:
                return f.read()
        self.channel = grpc.secure_channel(env.gateway, grpc.ssl_channel_credentials(
            read("root-ca.pem"), read(f"agencies/{agency}/tls.key"),
            read(f"agencies/{agency}/tls.pem")))
        self.stub = exchange_pb2_grpc.ExchangeStub(self.channel)
        self.key = serialization.load_pem_private_key(read(f"agencies/{agency}/sign.key"), None)
        self.cert_der = x509.load_pem_x509_certificate(read(f"agencies/{agency}/sign.pem")) \
            .public_bytes(serialization.Encoding.DER)

    def close(self):
        self.channel.close()

    def signed(self, dataset="bca.population", purpose="civil-registration", query=None,
               fields=(), lifetime=60, system="hotich", request_id=None, legal_basis="",
               data_subject_id="", max_records=0):
        now = time.time()
        env = exchange_pb2.RequestEnvelope(
            request_id=request_id or str(uuid.uuid4()), consumer_agency=self.agency,
            consumer_system=system, dataset_id=dataset,
            operation=exchange_pb2.OPERATION_READ, purpose_code=purpose,
            nonce=os.urandom(16), fields=list(fields), legal_basis=legal_basis,
            data_subject_id=data_subject_id, max_records=max_records)
        env.query.update(query or {})
        env.issued_at.FromNanoseconds(int(now * 1e9))
        env.expires_at.FromNanoseconds(int((now + lifetime) * 1e9))
        data = env.SerializeToString()
        return exchange_pb2.SignedRequest(
            envelope=data, signature=self.key.sign(data, ec.ECDSA(hashes.SHA256())),
            signer_certificate=self.cert_der)

    @staticmethod
    def values(row):
        nulls = set(row.nulls)
        return [None if i in nulls else v for i, v in enumerate(row.values)]

    def call(self, timeout=20, **kw):
        """An allowed answer's records: (columns, rows), or raises RpcError."""
        resp = self.stub.Call(self.signed(**kw), timeout=timeout)
        env = exchange_pb2.ResponseEnvelope.FromString(resp.envelope)
        return list(env.records.columns), [self.values(r) for r in env.records.rows]

    def stream(self, timeout=60, **kw):
        """All records of a stream: (columns, rows), or raises RpcError."""
        from dx.v1 import records_pb2
        columns, rows = [], []
        for msg in self.stub.Stream(self.signed(**kw), timeout=timeout):
            if msg.HasField("batch"):
                b = records_pb2.RecordBatch.FromString(msg.batch)
                columns = list(b.columns) or columns
                rows += [self.values(r) for r in b.rows]
        return columns, rows

    def refusal(self, method="call", **kw):
        """(code, reason name, details) of a refused call."""
        try:
            getattr(self, method)(**kw)
        except grpc.RpcError as e:
            d = detail_of(e)
            return e.code(), errors_pb2.ReasonCode.Name(d.reason) if d else None, e.details()
        raise AssertionError("the call was not refused")
