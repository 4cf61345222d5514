"""End-to-end tests of subscriptions (issue 26, one node): dxgate and the
file adapter following an append-only JSON Lines change log, as real
processes over loopback mutual TLS. A consumer subscribes with a signed
request; each signed batch is checked with the openssl CLI, and the chain of
batches by a few independent lines here; the gateway is restarted and the
consumer resumes from its ack. One deployment for the class."""
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DX_BUILD_DIR", os.path.join(REPO, "build"))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from dx.v1 import errors_pb2, exchange_pb2, subscription_pb2, subscription_pb2_grpc  # noqa: E402
from consumer import Consumer  # noqa: E402
from grpc_status import detail_of  # noqa: E402
from tests.harness import DevEnv  # noqa: E402
from tests.harness.dev_env import test_dataset_entry  # noqa: E402
from metrics_e2e_test import parse, value  # noqa: E402

H30, H29 = "000.00.00.H30", "000.00.00.H29"
DATASET = "test.residents"
FIELDS = ["citizen_id", "full_name", "province_code", "note"]
POLICY = """
  - dataset: test.residents
    grants:
      - {id: residents-feed, consumers: [000.00.00.H30], purposes: [testing],
         fields: [citizen_id, full_name, province_code],
         masks: [{field: full_name, kind: partial, keep_last: 3}],
         modes: [subscription], legal_basis: tests}
      - {id: residents-lookup, consumers: [000.00.00.H30], purposes: [statistics],
         fields: [province_code], legal_basis: tests}
      - {id: residents-read, consumers: [000.00.00.H29, 000.00.00.G12], purposes: [records],
         fields: [citizen_id, full_name], legal_basis: tests}
"""
S = subscription_pb2


def registry_entry():
    """The dataset, its key field (citizen_id) tagged personal: each event's
    key is a data subject's id, for the subject's report."""
    entry = test_dataset_entry(DATASET, FIELDS, 3000, 7001, "000.00.00.G01")
    return entry.replace("{name: citizen_id}", "{name: citizen_id, tags: [personal]}", 1)


class Subscriber(Consumer):
    """A consumer agency's subscription client: Consumer's keys and TLS,
    the Subscriptions service, envelopes with terms appended and signed."""

    def __init__(self, env, agency=H30, dataset=DATASET):
        super().__init__(env, agency)
        self.subs = subscription_pb2_grpc.SubscriptionsStub(self.channel)
        self.dataset = dataset

    def with_terms(self, terms, purpose="testing", **kw):
        base = self.signed(dataset=self.dataset, purpose=purpose, **kw)
        data = base.envelope + terms.SerializeToString()
        return exchange_pb2.SignedRequest(
            envelope=data, signature=self.key.sign(data, ec.ECDSA(hashes.SHA256())),
            signer_certificate=self.cert_der)

    def subscribe(self, start=S.START_FROM_NOW, sub_id="", acked=0, request=None, **kw):
        req = request or self.with_terms(S.SubscriptionTerms(
            start=start, subscription_id=sub_id, acked_sequence=acked), **kw)
        stream = self.subs.Subscribe(req, timeout=120)
        first = next(stream)
        assert first.HasField("opened"), first
        return stream, first.opened

    def unsubscribe(self, sub_id, start=S.START_FROM_UNSPECIFIED):
        """The stream's messages; it ends OK once the subscription is gone."""
        return list(self.subs.Subscribe(self.with_terms(S.SubscriptionTerms(
            subscription_id=sub_id, unsubscribe=True, start=start)), timeout=60))

    def ack(self, sub_id, sequence, **kw):
        return self.subs.Ack(self.with_terms(
            S.AckTerms(subscription_id=sub_id, sequence=sequence), **kw), timeout=20)

    @staticmethod
    def refused(fn, *args, **kw):
        try:
            fn(*args, **kw)
        except grpc.RpcError as e:
            d = detail_of(e)
            return e.code(), errors_pb2.ReasonCode.Name(d.reason) if d else None, e.details()
        raise AssertionError("not refused")


def read_events(stream, want, max_heartbeats=60):
    """Signed batches until `want` events arrived; bounded by heartbeats
    (one a second when idle), never by wall time."""
    batches, events, beats = [], 0, 0
    while events < want:
        msg = next(stream)
        if msg.HasField("heartbeat"):
            beats += 1
            if beats > max_heartbeats:
                raise AssertionError(f"only {events} of {want} events arrived")
            continue
        batches.append(msg.batch)
        events += len(S.EventBatch.FromString(msg.batch.envelope).events)
    return batches


def check_chain(head, last_sequence, batches):
    """The consumer's own check, independent of the gateway's code: each
    batch names SHA-256 of the previous batch's signed bytes, and numbers
    its events one by one after the previous batch's last."""
    for signed in batches:
        b = S.EventBatch.FromString(signed.envelope)
        assert b.previous_batch_sha256 == head, "a batch is missing or rewritten"
        assert b.first_sequence == last_sequence + 1, (b.first_sequence, last_sequence)
        assert [e.sequence for e in b.events] == list(
            range(b.first_sequence, b.last_sequence + 1))
        head, last_sequence = hashlib.sha256(signed.envelope).digest(), b.last_sequence
    return head, last_sequence


class SubscriptionEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="dx-sub-")
        cls.env = DevEnv(cls.tmp.name, BUILD, population=100, business=100,
                         gateway_settings={"subscriptions": "{heartbeat_seconds: 1, "
                                                            "max_unacked_batches: 4}",
                                           "metrics": "{listen_address: '127.0.0.1:0', "
                                                      "port_file: metrics.port}"})
        cls.env.setup()
        data = os.path.join(cls.env.root, "data")
        with open(os.path.join(data, "residents.csv"), "w", encoding="utf-8") as f:
            f.write(",".join(FIELDS) + "\n079000000001,Trần Thị Hoa,079,x\n")
        cls.log = os.path.join(data, "residents-changes.jsonl")
        open(cls.log, "w").close()
        cls.position = 0
        cls.env.extra_file_datasets["000.00.00.G01"] = f"""\
  - dataset_id: {DATASET}
    path: data/residents.csv
change_logs:
  - {{dataset_id: {DATASET}, path: data/residents-changes.jsonl, poll_millis: 50}}
"""
        for agency in ("000.00.00.G01", "000.00.00.G12"):
            cls.env.start_adapter(agency)
        cls.env.start_gateway(
            registry_entry(), POLICY)
        cls.h30 = Subscriber(cls.env)

    @classmethod
    def tearDownClass(cls):
        cls.h30.close()
        cls.env.close()
        cls.tmp.cleanup()

    @classmethod
    def change(cls, key, kind, commit_time="2026-12-07T06:00:00Z", previous=None, was=None,
               **values):
        cls.position += 1
        line = {"position": cls.position, "key": key, "kind": kind,
                "commit_time": commit_time}
        if kind == "delete" and was is not None:  # the record as it was
            line["values"] = {"citizen_id": key, "note": "secret", **was}
        if kind != "delete":
            line["values"] = {"citizen_id": key, "province_code": "079", "note": "secret",
                              **values}
        if previous is not None:  # the record as it was
            line["previous"] = {"citizen_id": key, "note": "secret", **previous}
        with open(cls.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")

    def openssl_verifies(self, signed):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        paths = {n: os.path.join(d, n) for n in ("env.bin", "sig.der", "cert.der", "pub.pem")}
        for name, data in (("env.bin", signed.envelope), ("sig.der", signed.signature),
                           ("cert.der", signed.signer_certificate)):
            with open(paths[name], "wb") as f:
                f.write(data)
        subprocess.run(["openssl", "x509", "-inform", "DER", "-in", paths["cert.der"],
                        "-pubkey", "-noout", "-out", paths["pub.pem"]], check=True)
        out = subprocess.run(["openssl", "dgst", "-sha256", "-verify", paths["pub.pem"],
                              "-signature", paths["sig.der"], paths["env.bin"]],
                             capture_output=True, text=True)
        return out.returncode == 0 and "Verified OK" in out.stdout

    def records_of(self, sub_id):
        return [r for r in self.env.audit_records() if r.get("subscription_id") == sub_id]

    def test_insert_update_delete_arrive_as_three_signed_chained_events(self):
        stream, opened = self.h30.subscribe()
        self.assertEqual(opened.resumes_after_sequence, 0)
        self.change("079000000101", "insert", full_name="Nguyễn Văn Bình")
        self.change("079000000101", "update", full_name="Nguyễn Văn Bính")
        self.change("079000000101", "delete")
        batches = read_events(stream, 3)
        stream.cancel()
        for b in batches:
            self.assertTrue(self.openssl_verifies(b), "openssl does not verify a batch")
        head, last = check_chain(opened.chain_head_sha256, 0, batches)
        self.assertEqual(last, 3)
        events = [e for b in batches for e in S.EventBatch.FromString(b.envelope).events]
        columns = list(S.EventBatch.FromString(batches[0].envelope).columns)
        self.assertEqual(columns, ["citizen_id", "full_name", "province_code"])  # no note
        self.assertEqual([e.kind for e in events],
                         [S.CHANGE_KIND_INSERT, S.CHANGE_KIND_UPDATE, S.CHANGE_KIND_DELETE])
        self.assertEqual({e.key for e in events}, {"079000000101"})
        self.assertEqual(events[0].values.values[0], "079000000101")
        self.assertTrue(events[0].values.values[1].endswith("ình"))  # masked, last 3
        self.assertNotIn("Nguyễn", events[0].values.values[1])
        self.assertEqual(len(events[2].values.values), 0)  # a delete carries none
        self.assertEqual(self.h30.ack(opened.subscription_id, last).acked_sequence, 3)
        # Audited: the start, each batch with its range and digest, the ack.
        recs = self.records_of(opened.subscription_id)
        kinds = [r["kind"] for r in recs]
        self.assertEqual(kinds[0], "RECORD_KIND_SUBSCRIPTION_START")
        batch_recs = [r for r in recs if r["kind"] == "RECORD_KIND_SUBSCRIPTION_BATCH"]
        self.assertEqual(len(batch_recs), len(batches))
        self.assertEqual(str(batch_recs[-1]["last_event_sequence"]), "3")
        self.assertTrue(batch_recs[0].get("response_sha256"))
        self.assertTrue(any("acked 3" in r.get("subscription_event", "") for r in recs))

    def test_forged_and_replayed_subscribe_refused(self):
        req = self.h30.with_terms(S.SubscriptionTerms(start=S.START_FROM_NOW))
        stream, _ = self.h30.subscribe(request=req)
        stream.cancel()
        code, reason, _ = Subscriber.refused(self.h30.subscribe, request=req)
        self.assertEqual((code, reason), (grpc.StatusCode.FAILED_PRECONDITION, "REASON_REPLAY"))
        # The terms changed after signing (a resume of someone's subscription).
        forged = exchange_pb2.SignedRequest()
        forged.CopyFrom(self.h30.with_terms(S.SubscriptionTerms(start=S.START_FROM_NOW)))
        forged.envelope = forged.envelope + S.SubscriptionTerms(
            start=S.START_FROM_CURSOR, subscription_id="x").SerializeToString()
        code, reason, _ = Subscriber.refused(self.h30.subscribe, request=forged)
        self.assertEqual((code, reason),
                         (grpc.StatusCode.UNAUTHENTICATED, "REASON_BAD_SIGNATURE"))

    def test_ack_of_a_sequence_never_delivered_is_refused_and_audited(self):
        stream, opened = self.h30.subscribe()
        stream.cancel()
        code, reason, msg = Subscriber.refused(self.h30.ack, opened.subscription_id, 99)
        self.assertEqual((code, reason),
                         (grpc.StatusCode.FAILED_PRECONDITION, "REASON_ACK_NOT_DELIVERED"))
        self.assertIn("99", msg)
        refused = [r for r in self.records_of(opened.subscription_id)
                   if r["kind"] == "RECORD_KIND_SUBSCRIPTION_CONTROL"
                   and r.get("decision") == "DECISION_DENY"]
        self.assertEqual(len(refused), 1)
        self.assertIn("ack refused", refused[0]["subscription_event"])
        # Another agency cannot ack (or learn of) H30's subscription.
        h29 = Subscriber(self.env, H29)
        try:
            code, reason, _ = Subscriber.refused(h29.ack, opened.subscription_id, 0)
        finally:
            h29.close()
        self.assertEqual((code, reason),
                         (grpc.StatusCode.NOT_FOUND, "REASON_SUBSCRIPTION_UNKNOWN"))

    def test_terms_sent_to_the_wrong_rpc_are_refused_and_audited(self):
        # A signed subscribe sent to Exchange: without the check it would be
        # served as a look-up (this grant allows look-ups of this query).
        lookup = {"purpose": "statistics", "query": {"province_code": "079"}}
        sent = []
        for rpc in ("Call", "Stream"):
            req = self.h30.with_terms(S.SubscriptionTerms(start=S.START_FROM_NOW), **lookup)
            sent.append(exchange_pb2.RequestEnvelope.FromString(req.envelope).request_id)
            call = getattr(self.h30.stub, rpc)
            code, reason, msg = Subscriber.refused(
                lambda r: list(call(r, timeout=20)) if rpc == "Stream" else call(r, timeout=20),
                req)
            self.assertEqual((code, reason), (grpc.StatusCode.INVALID_ARGUMENT,
                                              "REASON_MALFORMED_REQUEST"), rpc)
            self.assertIn("send it to dx.v1.Subscriptions/Subscribe", msg)
        req = self.h30.with_terms(S.AckTerms(subscription_id="x", sequence=1), **lookup)
        sent.append(exchange_pb2.RequestEnvelope.FromString(req.envelope).request_id)
        code, reason, msg = Subscriber.refused(self.h30.stub.Call, req, timeout=20)
        self.assertEqual((code, reason),
                         (grpc.StatusCode.INVALID_ARGUMENT, "REASON_MALFORMED_REQUEST"))
        self.assertIn("dx.v1.Subscriptions/Ack", msg)
        # Ack terms on Subscribe, subscription terms on Ack.
        both = S.SubscriptionTerms(start=S.START_FROM_NOW).SerializeToString() + \
            S.AckTerms(subscription_id="x", sequence=1).SerializeToString()
        for fn, terms, rpc in ((self.h30.subscribe, S.AckTerms(subscription_id="x"), "Ack"),
                               (self.h30.subs.Ack, S.SubscriptionTerms(
                                   start=S.START_FROM_NOW), "Subscribe")):
            req = self.h30.with_terms(terms)
            sent.append(exchange_pb2.RequestEnvelope.FromString(req.envelope).request_id)
            code, reason, msg = Subscriber.refused(fn, request=req) if rpc == "Ack" else \
                Subscriber.refused(fn, req, timeout=20)
            self.assertEqual((code, reason), (grpc.StatusCode.INVALID_ARGUMENT,
                                              "REASON_SUBSCRIPTION_UNSUPPORTED"), rpc)
            self.assertIn(f"send it to dx.v1.Subscriptions/{rpc}", msg)
        base = self.h30.signed(dataset=DATASET, purpose="testing")
        data = base.envelope + both
        req = exchange_pb2.SignedRequest(
            envelope=data, signature=self.h30.key.sign(data, ec.ECDSA(hashes.SHA256())),
            signer_certificate=self.h30.cert_der)
        code, reason, _ = Subscriber.refused(self.h30.subscribe, request=req)
        self.assertEqual((code, reason), (grpc.StatusCode.INVALID_ARGUMENT,
                                          "REASON_SUBSCRIPTION_UNSUPPORTED"))
        # Each refusal is in the audit log, denied, with its reason.
        recs = {r.get("request_id"): r for r in self.env.audit_records()}
        for rid in sent:
            self.assertIn(rid, recs)
            self.assertEqual(recs[rid].get("decision"), "DECISION_DENY", recs[rid])

    def test_grant_without_the_subscription_mode_is_refused(self):
        code, reason, msg = Subscriber.refused(self.h30.subscribe, purpose="statistics")
        self.assertEqual(code, grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(reason, "REASON_POLICY_DENIED")
        self.assertIn("does not allow mode 'subscription'", msg)
        # The same grant still serves its look-ups.
        columns, _ = self.h30.call(dataset=DATASET, purpose="statistics",
                                   query={"province_code": "079"})
        self.assertEqual(columns, ["province_code"])

    def apply_policy(self, grant_fields, forbid="", feed_id="residents-feed", feed_extra=""):
        doc = os.path.join(self.tmp.name, "residents-policy.yaml")
        masks = ("masks: [{field: full_name, kind: partial, keep_last: 3}],\n         "
                 if "full_name" in grant_fields else "")
        with open(doc, "w", encoding="utf-8") as f:
            f.write(f"""datasets:
  - dataset: test.residents
    grants:
      - {{id: {feed_id}, consumers: [000.00.00.H30], purposes: [testing],
         fields: [{", ".join(grant_fields)}],
         {masks}{feed_extra}modes: [subscription], legal_basis: tests}}
      - {{id: residents-lookup, consumers: [000.00.00.H30], purposes: [statistics],
         fields: [province_code], legal_basis: tests}}
      - {{id: residents-read, consumers: [000.00.00.H29, 000.00.00.G12], purposes: [records],
         fields: [citizen_id, full_name], legal_basis: tests}}
{forbid}""")
        out = self.env.policy("apply", "-f", doc)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_live_policy_narrows_the_next_batch_then_a_revocation_ends_the_feed(self):
        stream, opened = self.h30.subscribe()
        try:
            self.change("079000000401", "insert", full_name="Hồ Văn Giang")
            [b1] = read_events(stream, 1)
            e1 = S.EventBatch.FromString(b1.envelope)
            self.assertIn("full_name", e1.columns)
            # Narrowed while the feed runs: the next batch has no full_name.
            self.apply_policy(["citizen_id", "province_code"])
            self.change("079000000402", "insert", full_name="Hồ Văn Hải")
            [b2] = read_events(stream, 1)
            e2 = S.EventBatch.FromString(b2.envelope)
            self.assertEqual(list(e2.columns), ["citizen_id", "province_code"])
            self.assertEqual(list(e2.events[0].values.values), ["079000000402", "079"])
            self.assertNotEqual(e2.policy_version, e1.policy_version)
            # Widened again: the feed was opened without full_name; it is
            # read again with it, and nothing is skipped or sent twice.
            self.apply_policy(["citizen_id", "full_name", "province_code"])
            self.change("079000000403", "insert", full_name="Hồ Văn Hiếu")
            [b3] = read_events(stream, 1)
            e3 = S.EventBatch.FromString(b3.envelope)
            self.assertEqual([(e.sequence, e.key) for e in e3.events], [(3, "079000000403")])
            self.assertTrue(e3.events[0].values.values[1].endswith("iếu"))
            head, last = check_chain(opened.chain_head_sha256, 0, [b1, b2, b3])
            # Revoked (a forbid citing its act) while idle, and a change
            # written after: the feed ends, signed, before it is delivered.
            self.apply_policy(["citizen_id", "province_code"], forbid="""\
    forbids:
      - {id: feed-suspended, consumers: [000.00.00.H30],
         legal_basis: Decision 77/QD-BCA (suspension), reason: sharing suspended}
""")
            self.change("079000000404", "insert", full_name="Hồ Văn Khoa")
            ended, beats = None, 0
            with self.assertRaises(grpc.RpcError) as caught:
                for msg in stream:
                    self.assertFalse(msg.HasField("batch"), "a batch after the revocation")
                    if msg.HasField("heartbeat"):
                        beats += 1
                        self.assertLess(beats, 60, "the feed was not ended")
                    if msg.HasField("ended"):
                        ended = msg.ended
            self.assertEqual(caught.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        finally:
            stream.cancel()
            self.apply_policy(["citizen_id", "full_name", "province_code"])
        self.assertIsNotNone(ended, "no signed final message")
        self.assertTrue(self.openssl_verifies(ended), "openssl does not verify the end")
        end = S.SubscriptionEnded.FromString(ended.envelope)
        self.assertEqual(errors_pb2.ReasonCode.Name(end.reason), "REASON_POLICY_FORBIDDEN")
        self.assertEqual(end.rule_id, "feed-suspended")
        self.assertIn("Decision 77/QD-BCA", end.legal_basis)
        self.assertEqual((end.last_sequence, end.previous_batch_sha256), (last, head))
        self.assertEqual(end.subscription_id, opened.subscription_id)
        self.assertEqual(value(self.scrape(), "dx_subscription_ends_total", dataset=DATASET,
                               reason="policy_forbidden"), 1)
        # Audited: the end, denied, citing the rule, its receipt in the message.
        recs = [r for r in self.records_of(opened.subscription_id)
                if r["kind"] == "RECORD_KIND_SUBSCRIPTION_CONTROL"
                and r.get("decision") == "DECISION_DENY"]
        self.assertEqual(len(recs), 1, recs)
        self.assertEqual(recs[0]["policy_rule_id"], "feed-suspended")
        self.assertEqual(recs[0]["reason"], "REASON_POLICY_FORBIDDEN")
        self.assertEqual(str(recs[0]["last_event_sequence"]), str(last))
        batch_recs = [r for r in self.records_of(opened.subscription_id)
                      if r["kind"] == "RECORD_KIND_SUBSCRIPTION_BATCH"]
        self.assertEqual([r["policy_version"] for r in batch_recs],
                         [e1.policy_version, e2.policy_version, e3.policy_version])

    def test_events_count_against_the_daily_records_quota(self):
        # A grant of its own, so its own counters: 3 records a day, events
        # included.
        self.apply_policy(["citizen_id", "province_code"], feed_id="residents-feed-metered",
                          feed_extra="quota: {records_per_day: 3},\n         ")
        stream = None
        try:
            stream, opened = self.h30.subscribe()
            sub_id = opened.subscription_id
            delivered = []
            for i in range(3):
                self.change(f"07900000080{i}", "insert", full_name="Đỗ Văn Lâm")
                delivered += read_events(stream, 1)
            head, last = check_chain(opened.chain_head_sha256, 0, delivered)
            self.assertEqual(last, 3)
            self.h30.ack(sub_id, last)
            # The fourth event does not fit the day: the feed ends, signed,
            # and the event does not leave.
            self.change("079000000803", "insert", full_name="Đỗ Văn Minh")
            ended, beats = None, 0
            with self.assertRaises(grpc.RpcError) as caught:
                for msg in stream:
                    self.assertFalse(msg.HasField("batch"), "a batch past the quota")
                    if msg.HasField("heartbeat"):
                        beats += 1
                        self.assertLess(beats, 60, "the feed was not ended")
                    if msg.HasField("ended"):
                        ended = msg.ended
            self.assertEqual(caught.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertIsNotNone(ended, "no signed final message")
            self.assertTrue(self.openssl_verifies(ended), "openssl does not verify the end")
            end = S.SubscriptionEnded.FromString(ended.envelope)
            self.assertEqual(errors_pb2.ReasonCode.Name(end.reason), "REASON_QUOTA_EXCEEDED")
            self.assertEqual(end.rule_id, "residents-feed-metered")
            self.assertIn("3 records per day", end.message)
            self.assertEqual((end.last_sequence, end.previous_batch_sha256), (last, head))
            recs = [r for r in self.records_of(sub_id)
                    if r["kind"] == "RECORD_KIND_SUBSCRIPTION_CONTROL"
                    and r.get("decision") == "DECISION_DENY"]
            self.assertEqual(len(recs), 1, recs)
            self.assertEqual((recs[0]["reason"], recs[0]["policy_rule_id"]),
                             ("REASON_QUOTA_EXCEEDED", "residents-feed-metered"))
            # The same day, a resume is refused at once.
            code, reason, _ = Subscriber.refused(
                self.h30.subscribe, start=S.START_FROM_CURSOR, sub_id=sub_id, acked=last)
            self.assertEqual((code, reason),
                             (grpc.StatusCode.RESOURCE_EXHAUSTED, "REASON_QUOTA_EXCEEDED"))
        finally:
            if stream is not None:
                stream.cancel()
            self.apply_policy(["citizen_id", "full_name", "province_code"])
        # The quota lifted: the resume gets the event that was held back,
        # with the next number in the chain.
        stream, opened = self.h30.subscribe(start=S.START_FROM_CURSOR, sub_id=sub_id,
                                            acked=last)
        try:
            [b] = read_events(stream, 1)
        finally:
            stream.cancel()
        check_chain(head, last, [b])
        self.assertEqual([(e.sequence, e.key) for e in S.EventBatch.FromString(b.envelope).events],
                         [(4, "079000000803")])

    def test_a_record_leaving_the_row_filter_is_told_without_values(self):
        # A grant of Ho Chi Minh City's rows only (province 079).
        self.apply_policy(["citizen_id", "full_name", "province_code"],
                          feed_id="residents-feed-079",
                          feed_extra="row_filter: \"province_code == '079'\",\n         ")
        stream = None
        try:
            stream, opened = self.h30.subscribe()
            self.change("079000000901", "insert", full_name="Mai Văn Nam")
            # Moved to Hanoi: it leaves the consumer's rows; the key is
            # told, the new values (in a province it may not see) are not.
            self.change("079000000901", "update", full_name="Mai Văn Nam",
                        province_code="001",
                        previous={"full_name": "Mai Văn Nam", "province_code": "079"})
            # Never in view, moved within Hanoi: nothing is told.
            self.change("001000000902", "update", full_name="Mai Thị Oanh",
                        province_code="001",
                        previous={"full_name": "Mai Thị Oanh", "province_code": "002"})
            # Moved to Ho Chi Minh City: it enters, and arrives whole.
            self.change("001000000903", "update", full_name="Mai Văn Phong",
                        province_code="079",
                        previous={"full_name": "Mai Văn Phong", "province_code": "001"})
            # Deleted with the record as it was: in its rows, told; out of
            # them, withheld (its key never named).
            self.change("001000000904", "delete",
                        was={"full_name": "Mai Thị Quế", "province_code": "001"})
            self.change("001000000903", "delete",
                        was={"full_name": "Mai Văn Phong", "province_code": "079"})
            batches = read_events(stream, 4)
        finally:
            if stream is not None:
                stream.cancel()
            self.apply_policy(["citizen_id", "full_name", "province_code"])
        check_chain(opened.chain_head_sha256, 0, batches)
        for b in batches:
            self.assertTrue(self.openssl_verifies(b))
        events = [e for b in batches for e in S.EventBatch.FromString(b.envelope).events]
        self.assertEqual([(e.key, S.ChangeKind.Name(e.kind)) for e in events],
                         [("079000000901", "CHANGE_KIND_INSERT"),
                          ("079000000901", "CHANGE_KIND_LEFT_VIEW"),
                          ("001000000903", "CHANGE_KIND_UPDATE"),
                          ("001000000903", "CHANGE_KIND_DELETE")])
        self.assertEqual(len(events[3].values.values), 0, "a delete's values were sent")
        self.assertEqual(len(events[1].values.values), 0, "values of a record out of view")
        self.assertEqual(list(events[2].values.values)[0::2], ["001000000903", "079"])
        raw = b"".join(b.envelope for b in batches)
        self.assertNotIn(b"001000000902", raw)
        self.assertNotIn(b"001000000904", raw)
        self.assertNotIn("Mai Thị Quế".encode(), raw)

    def test_a_pushed_change_is_in_the_data_subjects_report(self):
        stream, opened = self.h30.subscribe()
        try:
            self.change("079000001001", "insert", full_name="Trịnh Văn Quang")
            self.change("079000001002", "insert", full_name="Trịnh Thị Rồng")
            read_events(stream, 2)
        finally:
            stream.cancel()
        # The batch records (one or two: the adapter may read the two lines
        # in one poll or two) hold each key's keyed hash, never the key.
        recs = [r for r in self.records_of(opened.subscription_id)
                if r["kind"] == "RECORD_KIND_SUBSCRIPTION_BATCH"]
        self.assertIn(len(recs), (1, 2))
        self.assertEqual(sum(len(r["event_subject_hmacs"]) for r in recs), 2)
        self.assertNotIn("079000001001", json.dumps(recs))
        # Other subscriptions still served may have carried it too: the
        # report lists each batch; ours is among them.
        r = self.env.auditor("subject-report", "--subject", "079000001001", "--format", "jsonl")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertTrue(rows)
        self.assertEqual({row["kind"] for row in rows}, {"RECORD_KIND_SUBSCRIPTION_BATCH"})
        ours = [row["sequence_number"] for row in rows
                if row["subscription_id"] == opened.subscription_id]
        self.assertEqual(len(ours), 1, ours)  # the batch that carried it, only
        self.assertIn(ours[0], [r["sequence_number"] for r in recs])
        r = self.env.auditor("subject-report", "--subject", "079000001001")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        requests, pushed = r.stdout.split("Changes to this person's record pushed")
        self.assertNotIn("SUBSCRIPTION_BATCH", requests)
        self.assertIn(f"{H30}/hotich -> {DATASET}", pushed)
        self.assertEqual(pushed.count("SUBSCRIPTION_BATCH"), len(rows))
        self.assertIn("0 access(es) to data about this person", r.stdout)
        self.assertIn(f"{len(rows)} pushed change batch(es)", r.stdout)
        r = self.env.auditor("subject-report", "--subject", "079000001003", "--format", "jsonl")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), "", "a person whose record was not pushed")

    def scrape(self):
        with open(os.path.join(self.env.root, "metrics.port")) as f:
            port = int(f.read())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            return parse(r.read().decode())

    def wait_gauge(self, name, want, **labels):
        """Until the gauge reads `want`; bounded by scrapes (a stream's end
        is noticed at its next heartbeat, one a second), not by time."""
        for _ in range(200):
            got = value(self.scrape(), name, **labels)
            if got == want:
                return
            time.sleep(0.05)
        self.fail(f"{name}{labels} stayed at {got}, not {want}")

    def test_metrics_count_events_batches_streams_lag_and_acks(self):
        ds = {"dataset": DATASET}
        self.wait_gauge("dx_subscriptions", 0, state="open", **ds)
        before = self.scrape()
        stream, opened = self.h30.subscribe()
        try:
            self.assertEqual(value(self.scrape(), "dx_subscriptions", state="open", **ds), 1)
            hour_ago = (datetime.datetime.now(datetime.timezone.utc)
                        - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.change("079000000501", "insert", commit_time=hour_ago, full_name="Mai Văn An")
            self.change("079000000502", "insert", commit_time=hour_ago, full_name="Mai Thị Ba")
            batches = read_events(stream, 2)
            _, last = check_chain(opened.chain_head_sha256, 0, batches)
            after = self.scrape()
            self.assertEqual(value(after, "dx_subscription_events_total", **ds)
                             - value(before, "dx_subscription_events_total", **ds), 2)
            self.assertEqual(value(after, "dx_subscription_batches_total", **ds)
                             - value(before, "dx_subscription_batches_total", **ds),
                             len(batches))
            self.assertEqual(value(after, "dx_subscription_unacked_events", **ds), 2)
            # The lag is measured from the commit, an hour ago.
            lag_count = (value(after, "dx_subscription_lag_seconds_count", **ds)
                         - value(before, "dx_subscription_lag_seconds_count", **ds))
            lag_sum = (value(after, "dx_subscription_lag_seconds_sum", **ds)
                       - value(before, "dx_subscription_lag_seconds_sum", **ds))
            self.assertEqual(lag_count, len(batches))
            self.assertGreaterEqual(lag_sum / lag_count, 3600)
            self.h30.ack(opened.subscription_id, last)
            self.assertEqual(value(self.scrape(), "dx_subscription_unacked_events", **ds), 0)
            refused = value(self.scrape(), "dx_subscription_ack_refusals_total",
                            reason="ack_not_delivered")
            Subscriber.refused(self.h30.ack, opened.subscription_id, last + 50)
            self.assertEqual(value(self.scrape(), "dx_subscription_ack_refusals_total",
                                   reason="ack_not_delivered"), refused + 1)
            # Nothing more to send: heartbeats only, the stream is idle.
            self.wait_gauge("dx_subscriptions", 1, state="idle", **ds)
        finally:
            stream.cancel()
        self.wait_gauge("dx_subscriptions", 0, state="open", **ds)
        self.wait_gauge("dx_subscriptions", 0, state="idle", **ds)

    def test_a_consumer_that_does_not_ack_holds_its_feed_with_heartbeats(self):
        # max_unacked_batches is 4 in this deployment.
        stream, opened = self.h30.subscribe()
        try:
            batches = []
            for n in range(4):  # one batch each: read before the next change
                self.change(f"07900000080{n}", "insert", full_name="Đinh Văn Lộc")
                batches += read_events(stream, 1)
            _, last = check_chain(opened.chain_head_sha256, 0, batches)
            self.assertEqual((len(batches), last), (4, 4))
            self.change("079000000804", "insert", full_name="Đinh Văn Lộc")
            # Held: heartbeats only (the consumer sees the node alive), no batch.
            for _ in range(3):
                msg = next(stream)
                self.assertTrue(msg.HasField("heartbeat"), msg)
                self.assertEqual(msg.heartbeat.last_sequence, 4)
            self.h30.ack(opened.subscription_id, 2)
            [b5] = read_events(stream, 1)
            b = S.EventBatch.FromString(b5.envelope)
            self.assertEqual([(e.sequence, e.key) for e in b.events], [(5, "079000000804")])
        finally:
            stream.cancel()

    def test_snapshot_query_and_subject_are_refused(self):
        # The file adapter takes no snapshot (a change log has no records to
        # start from): the gateway asks it first and refuses, saying what to
        # do, rather than open a feed the consumer would take for a copy.
        code, reason, message = Subscriber.refused(self.h30.subscribe,
                                                   start=S.START_FROM_SNAPSHOT)
        self.assertEqual((code, reason), (grpc.StatusCode.FAILED_PRECONDITION,
                                          "REASON_SUBSCRIPTION_UNSUPPORTED"))
        self.assertIn("takes no snapshot", message)
        self.assertIn("subscribe from now", message)
        # A feed is not narrowed by a query or a subject: naming one person
        # must not pass for a look-up of that person (fail closed).
        for kw in ({"data_subject_id": "079000000001"},
                   {"query": {"citizen_id": "079000000001"}}):
            code, reason, _ = Subscriber.refused(self.h30.subscribe, **kw)
            self.assertEqual((code, reason), (grpc.StatusCode.INVALID_ARGUMENT,
                                              "REASON_SUBSCRIPTION_UNSUPPORTED"), kw)

    def dxctl_subscribe(self, cursor, then):
        """Runs dxctl subscribe for one event; `then()` once it subscribed."""
        proc = subprocess.Popen(
            [self.env.bin("dxctl"), "subscribe", "--gateway", self.env.gateway,
             "--pki", self.env.pki, "--agency", H30, "--system", "hotich",
             "--dataset", DATASET,
             "--purpose", "testing", "--cursor", cursor, "--max-events", "1",
             "--max-idle", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = proc.stdout.readline()
        if not first.startswith("SUBSCRIBED"):
            proc.kill()
            out, err = proc.communicate()
            self.fail(first + out + err)
        then()
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, out + err)
        return first + out

    def test_dxctl_subscribe_prints_acks_and_resumes_from_its_cursor(self):
        cursor = os.path.join(self.tmp.name, "dxctl.cursor")
        out = self.dxctl_subscribe(
            cursor, lambda: self.change("079000000301", "insert", full_name="Đỗ Văn Phúc"))
        self.assertRegex(out, r"#1 insert 079000000301 +citizen_id=079000000301 "
                              r"full_name=\S*húc province_code=079")
        self.assertNotIn("secret", out)
        with open(cursor, encoding="utf-8") as f:
            self.assertIn("acked=1", f.read())
        out = self.dxctl_subscribe(
            cursor, lambda: self.change("079000000302", "update", full_name="Đỗ Văn Quý"))
        self.assertIn("after #1", out)
        self.assertIn("#2 update 079000000302", out)
        # Ended for good: the cursor is removed; the gateway forgot it.
        with open(cursor, encoding="utf-8") as f:
            sub_id = f.read().split("subscription_id=")[1].split()[0]
        r = self.env.dxctl("subscribe", "--gateway", self.env.gateway, "--pki", self.env.pki,
                           "--agency", H30, "--system", "hotich", "--dataset", DATASET,
                           "--purpose", "testing", "--cursor", cursor, "--unsubscribe")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"UNSUBSCRIBED  {sub_id} (acked #2)", r.stdout)
        self.assertFalse(os.path.exists(cursor))
        code, reason, _ = Subscriber.refused(
            self.h30.subscribe, start=S.START_FROM_CURSOR, sub_id=sub_id, acked=2)
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)

    def test_dxctl_subscribe_cloudevents_lines_after_the_checks(self):
        proc = subprocess.Popen(
            [self.env.bin("dxctl"), "subscribe", "--gateway", self.env.gateway,
             "--pki", self.env.pki, "--agency", H30, "--system", "hotich",
             "--dataset", DATASET, "--purpose", "testing", "--format", "cloudevents",
             "--max-events", "2", "--max-idle", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = proc.stderr.readline()  # status lines on stderr: stdout is events only
        if not first.startswith("SUBSCRIBED"):
            proc.kill()
            out, err = proc.communicate()
            self.fail(first + out + err)
        sub_id = first.split()[1]
        self.change("079000000601", "insert", full_name='Ngô "Văn" Xuân')
        self.change("079000000601", "delete")
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, out + err)
        lines = out.splitlines()
        self.assertEqual(len(lines), 2, out)
        events = [json.loads(line) for line in lines]  # each line one JSON object
        for n, ev in enumerate(events, start=1):
            for attr in ("specversion", "id", "source", "type", "time", "subject",
                         "datacontenttype", "data"):
                self.assertIn(attr, ev)
            self.assertEqual(ev["specversion"], "1.0")
            self.assertEqual(ev["id"], f"{sub_id}-{n}")
            self.assertEqual(ev["source"], "urn:dx:gateway:gw1")
            self.assertEqual(ev["subject"], "079000000601")
            self.assertEqual(ev["time"], "2026-12-07T06:00:00Z")
            self.assertEqual(ev["datacontenttype"], "application/json")
            self.assertEqual(ev["dxdataset"], DATASET)
        self.assertEqual([e["type"] for e in events],
                         ["vn.dx.change.insert", "vn.dx.change.delete"])
        data = events[0]["data"]
        self.assertEqual(sorted(data), ["citizen_id", "full_name", "province_code"])
        self.assertEqual(data["citizen_id"], "079000000601")
        self.assertTrue(data["full_name"].endswith("uân"))  # masked as granted
        self.assertNotIn("Ngô", data["full_name"])
        self.assertEqual(events[1]["data"], {})
        self.assertIn("ENDED", err)

    def test_unsubscribe_ends_for_good_and_a_resume_is_not_found(self):
        stream, opened = self.h30.subscribe()
        sub_id = opened.subscription_id
        self.change("079000000701", "insert", full_name="Lý Văn Tâm")
        [b1] = read_events(stream, 1)
        _, last = check_chain(b"", 0, [b1])
        self.h30.ack(sub_id, last)
        # Not another agency's to end; nor with a start (contradictory).
        h29 = Subscriber(self.env, H29)
        try:
            code, reason, _ = Subscriber.refused(h29.unsubscribe, sub_id)
        finally:
            h29.close()
        self.assertEqual((code, reason),
                         (grpc.StatusCode.NOT_FOUND, "REASON_SUBSCRIPTION_UNKNOWN"))
        code, reason, _ = Subscriber.refused(self.h30.unsubscribe, sub_id,
                                             start=S.START_FROM_NOW)
        self.assertEqual((code, reason), (grpc.StatusCode.INVALID_ARGUMENT,
                                          "REASON_SUBSCRIPTION_UNSUPPORTED"))
        # While its stream is served: the stream is ended, then it is gone.
        [msg] = self.h30.unsubscribe(sub_id)
        self.assertTrue(msg.HasField("unsubscribed"), msg)
        self.assertEqual((msg.unsubscribed.subscription_id, msg.unsubscribed.acked_sequence),
                         (sub_id, last))
        rest = list(stream)  # the old stream ends (OK) without another batch
        self.assertFalse([m for m in rest if m.HasField("batch")])
        code, reason, _ = Subscriber.refused(
            self.h30.subscribe, start=S.START_FROM_CURSOR, sub_id=sub_id, acked=last)
        self.assertEqual((code, reason),
                         (grpc.StatusCode.NOT_FOUND, "REASON_SUBSCRIPTION_UNKNOWN"))
        code, reason, _ = Subscriber.refused(self.h30.ack, sub_id, last)
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        code, reason, _ = Subscriber.refused(self.h30.unsubscribe, sub_id)
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)  # already gone
        recs = [r for r in self.records_of(sub_id)
                if r["kind"] == "RECORD_KIND_SUBSCRIPTION_CONTROL"
                and r.get("decision") == "DECISION_ALLOW"
                and r.get("subscription_event", "").startswith("unsubscribed")]
        self.assertEqual(len(recs), 1, recs)
        self.assertEqual(recs[0]["subscription_event"], f"unsubscribed (acked {last})")
        self.assertEqual(recs[0]["consumer_agency"], H30)
        self.assertGreater(msg.unsubscribed.receipt.sequence_number, 0)
        self.assertEqual(len(msg.unsubscribed.receipt.record_hash), 32)

    def test_y_a_resume_from_before_the_retention_is_told_to_resynchronise(self):
        # Next to last (y): it rewrites the change log, as an operator who
        # prunes it does. Only a later subscription may read it after.
        stream, opened = self.h30.subscribe()
        sub_id = opened.subscription_id
        self.change("079000000801", "insert", full_name="Đinh Văn Lâm")
        [b1] = read_events(stream, 1)
        head, last = check_chain(b"", 0, [b1])
        self.h30.ack(sub_id, last)
        stream.cancel()
        # Pruned past what this subscription acknowledged: changes it never
        # received are gone, so a resume cannot go on without a gap.
        pruned = type(self).position + 5
        with open(self.log, "w", encoding="utf-8") as f:
            f.write(json.dumps({"pruned_through": pruned}) + "\n")
        type(self).position = pruned
        self.change("079000000802", "insert", full_name="Đinh Văn Minh")
        stream, opened = self.h30.subscribe(start=S.START_FROM_CURSOR, sub_id=sub_id,
                                            acked=last)
        ended = None
        with self.assertRaises(grpc.RpcError) as caught:
            for msg in stream:
                self.assertFalse(msg.HasField("batch"), "a batch across the gap")
                if msg.HasField("ended"):
                    ended = msg.ended
        self.assertEqual(caught.exception.code(), grpc.StatusCode.OUT_OF_RANGE)
        self.assertEqual(errors_pb2.ReasonCode.Name(detail_of(caught.exception).reason),
                         "REASON_SUBSCRIPTION_RESYNC")
        self.assertIn("open a new subscription", caught.exception.details())
        self.assertIsNotNone(ended, "no signed final message")
        self.assertTrue(self.openssl_verifies(ended), "openssl does not verify the end")
        end = S.SubscriptionEnded.FromString(ended.envelope)
        self.assertEqual(errors_pb2.ReasonCode.Name(end.reason), "REASON_SUBSCRIPTION_RESYNC")
        self.assertEqual((end.subscription_id, end.last_sequence, end.previous_batch_sha256),
                         (sub_id, last, head))
        recs = [r for r in self.records_of(sub_id)
                if r["kind"] == "RECORD_KIND_SUBSCRIPTION_CONTROL"
                and r.get("decision") == "DECISION_DENY"]
        self.assertEqual([r["reason"] for r in recs], ["REASON_SUBSCRIPTION_RESYNC"])
        self.assertEqual(value(self.scrape(), "dx_subscription_ends_total", dataset=DATASET,
                               reason="subscription_resync"), 1)
        # Every later resume is told the same; dxctl says what to do, and
        # exits 4 (not 1) so that a script does not retry for ever.
        cursor = os.path.join(self.tmp.name, "resync.cursor")
        with open(cursor, "w", encoding="utf-8") as f:
            f.write(f"subscription_id={sub_id}\nacked={last}\nhead={head.hex()}\n")
        r = self.env.dxctl("subscribe", "--gateway", self.env.gateway, "--pki", self.env.pki,
                           "--agency", H30, "--system", "hotich", "--dataset", DATASET,
                           "--purpose", "testing", "--cursor", cursor, "--max-idle", "60")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("ENDED BY GATEWAY  REASON_SUBSCRIPTION_RESYNC", r.stdout + r.stderr)
        self.assertIn("RESYNCHRONISE", r.stdout + r.stderr)
        # What the consumer is told to do works: a new subscription from
        # the oldest change kept reads what follows the marker.
        stream, opened = self.h30.subscribe(start=S.START_FROM_BEGINNING)
        [b] = read_events(stream, 1)
        self.assertEqual([e.key for e in S.EventBatch.FromString(b.envelope).events],
                         ["079000000802"])
        # A feed the adapter fails (a line that is no change) ends with the
        # adapter's failure, not as if it had ended well.
        with open(self.log, "a", encoding="utf-8") as f:
            f.write("not a change\n")
        with self.assertRaises(grpc.RpcError) as caught:
            read_events(stream, 1)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(errors_pb2.ReasonCode.Name(detail_of(caught.exception).reason),
                         "REASON_ADAPTER_ERROR")
        self.assertIn("not a JSON object", caught.exception.details())
        # The operator repairs the log (pruning the bad line) for what follows.
        with open(self.log, "w", encoding="utf-8") as f:
            f.write(json.dumps({"pruned_through": type(self).position}) + "\n")

    def test_who_received_a_record_by_look_up_stream_and_subscription(self):
        """For a provider's correction: every agency that received record K
        (a look-up, a stream, a subscription batch) and no other. The log
        keeps keyed hashes of delivered keys, never the keys."""
        key = "079000000001"  # the CSV's record, and a change of it
        stream, _ = self.h30.subscribe()
        try:
            self.change(key, "correction", full_name="Trần Thị Hoà")
            read_events(stream, 1)
        finally:
            stream.cancel()
        h29, g12 = Consumer(self.env, H29), Consumer(self.env, "000.00.00.G12")
        try:
            _, rows = h29.call(dataset=DATASET, purpose="records", system="motcua",
                               query={"citizen_id": key})
            self.assertEqual([r[0] for r in rows], [key])
            _, rows = g12.stream(dataset=DATASET, purpose="records", system="dkkd")
            self.assertIn(key, [r[0] for r in rows])
            # A look-up whose answer carries no key field names no record.
            _, rows = self.h30.call(dataset=DATASET, purpose="statistics",
                                    query={"province_code": "079"})
            self.assertTrue(rows)
        finally:
            h29.close()
            g12.close()
        r = self.env.auditor("recipients", "--dataset", DATASET, "--record", key)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"Record {key} of {DATASET} was delivered to 3 agency(ies):", r.stdout)
        self.assertIn(f"{H29}  1 look-up(s), 0 stream(s), 0 subscription batch(es)", r.stdout)
        self.assertIn("000.00.00.G12  0 look-up(s), 1 stream(s), 0 subscription batch(es)",
                      r.stdout)
        self.assertRegex(r.stdout, rf"{H30}  0 look-up\(s\), 0 stream\(s\), [1-9]\d* "
                                   r"subscription batch\(es\)")
        r = self.env.auditor("recipients", "--dataset", DATASET, "--record", "079000099999")
        self.assertIn("was delivered to 0 agency(ies)", r.stdout)
        # One key in another dataset is another record.
        r = self.env.auditor("recipients", "--dataset", "bca.population", "--record", key)
        self.assertIn("was delivered to 0 agency(ies)", r.stdout)
        r = self.env.auditor("recipients", "--dataset", DATASET)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--record", r.stdout + r.stderr)
        # The delivered-record hashes are of their own domain: the citizen's
        # report (by the same id) lists the pushed batch, not the look-up or
        # the stream that named no data subject.
        r = self.env.auditor("subject-report", "--subject", key, "--format", "jsonl")
        kinds = {json.loads(line)["kind"] for line in r.stdout.splitlines()}
        self.assertIn("RECORD_KIND_SUBSCRIPTION_BATCH", kinds)
        self.assertFalse(kinds & {"RECORD_KIND_EXCHANGE", "RECORD_KIND_STREAM_END"}, kinds)
        # The question is itself audited; the keys are not in the log.
        records = self.env.audit_records()
        self.assertTrue(any(x.get("admin_action") == "audit.record-recipients"
                            for x in records))
        delivered = [x for x in records if x.get("delivered_record_hmacs")]
        self.assertTrue(delivered)
        for x in delivered:
            self.assertNotIn(key, json.dumps(x.get("delivered_record_hmacs")))

    def test_z_resumes_from_its_ack_after_a_gateway_restart(self):
        # Last (z): it restarts the gateway.
        stream, opened = self.h30.subscribe()
        sub_id = opened.subscription_id
        self.change("079000000201", "insert", full_name="Lê Văn Cường")
        [b1] = read_events(stream, 1)
        head1, last1 = check_chain(b'', 0, [b1])
        self.h30.ack(sub_id, last1)
        self.change("079000000202", "insert", full_name="Phạm Thị Dung")
        read_events(stream, 1)  # delivered, never acknowledged
        stream.cancel()
        self.env.stop_gateway()
        self.change("079000000203", "insert", full_name="Võ Văn Em")  # while down
        self.env.start_gateway(
            registry_entry(), POLICY)
        self.h30.close()
        type(self).h30 = Subscriber(self.env)
        # A cursor from before the ack is refused: it would skip nothing but
        # it is not what the gateway holds.
        code, reason, _ = Subscriber.refused(
            self.h30.subscribe, start=S.START_FROM_CURSOR, sub_id=sub_id, acked=0)
        self.assertEqual((code, reason),
                         (grpc.StatusCode.FAILED_PRECONDITION, "REASON_CURSOR_MISMATCH"))
        stream, opened = self.h30.subscribe(start=S.START_FROM_CURSOR, sub_id=sub_id,
                                            acked=last1)
        self.assertEqual(opened.resumes_after_sequence, last1)
        self.assertEqual(opened.chain_head_sha256, head1)
        batches = read_events(stream, 2)
        stream.cancel()
        _, last = check_chain(head1, last1, batches)
        events = [e for b in batches for e in S.EventBatch.FromString(b.envelope).events]
        # The unacknowledged event again, with its number, then the new one.
        self.assertEqual([(e.sequence, e.key) for e in events],
                         [(2, "079000000202"), (3, "079000000203")])
        self.assertEqual(last, 3)


if __name__ == "__main__":
    unittest.main()
