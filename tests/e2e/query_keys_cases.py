"""What a consumer may ask (issue 24): the cases of query keys decided by
the registry and the sharing policy, shared by the file adapter's class
(policy_e2e_test) and the SQL adapter's (sql_adapter_e2e_test). A class
that mixes QueryKeyCases in serves QKEYS_DATASET from its G01 adapter with
QKEYS_POLICY, and sets `env` and `consumer` (H30).

test.qkeys reads the population data. H30 may read citizen_id (masked),
full_name and birth_date (masked), may look up by province_code without
reading it, may not read sex, and is forbidden ethnicity. Each refusal
happens in the gateway, before any adapter; each is audited with its
reason, and `dxctl policy explain` gives the same answer."""
import csv
import json
import os
import uuid

import grpc

H30 = "000.00.00.H30"

# 127.0.0.1:7001 becomes the G01 adapter's port (DevEnv.registry_text).
QKEYS_DATASET = """
  - id: test.qkeys
    name: Population, asked by query keys (tests)
    provider_agency: 000.00.00.G01
    category: shared
    restriction_legal_basis: Law on Data 2024 Art. 18 (tests)
    adapter: {address: "127.0.0.1:7001", tls_server_name: localhost, timeout_ms: 3000}
    fields:
      - {name: citizen_id, tags: [personal]}
      - {name: full_name, tags: [personal]}
      - {name: birth_date, tags: [personal]}
      - {name: sex, tags: [personal]}
      - {name: province_code}
      - {name: ethnicity, tags: [sensitive_personal]}
    query_keys:
      - {field: citizen_id, prefix: true}
      - {field: full_name, prefix: true}
      - {field: birth_date, range: true}
      - {field: sex}
      - {field: province_code}
      - {field: ethnicity}
"""
QKEYS_POLICY = """
  - dataset: test.qkeys
    grants:
      - id: qkeys-lookup
        consumers: [000.00.00.H30]
        purposes: [testing]
        fields: [citizen_id, full_name, birth_date]
        masks:
          - {field: citizen_id, kind: partial, keep_last: 4}
          - {field: birth_date, kind: full}
        query_keys: [province_code]
        legal_basis: tests (query keys)
    forbids:
      - id: qkeys-no-ethnicity
        consumers: [000.00.00.H30]
        fields: [ethnicity]
        legal_basis: Decree 13/2023/ND-CP Art. 2(4) (sensitive personal data)
"""
# The SQL adapter's configuration of the same dataset (registry.citizens).
QKEYS_SQL_DATASET = """
  - dataset_id: test.qkeys
    table: registry.citizens
    fields:
      - {name: citizen_id}
      - {name: full_name, column: ho_ten}
      - {name: birth_date}
      - {name: sex}
      - {name: province_code}
      - {name: ethnicity}
    query_keys:
      - {field: citizen_id, prefix: true}
      - {field: full_name, prefix: true}
      - {field: birth_date, type: date, range: true}
      - {field: sex}
      - {field: province_code}
      - {field: ethnicity}
    order_by: [citizen_id]
"""
# The file adapter serves it from the same file as bca.population.
QKEYS_FILE_DATASET = """\
  - dataset_id: test.qkeys
    path: data/population.csv
"""


class QueryKeyCases:
    def population_rows(self):
        with open(os.path.join(self.env.root, "data", "population.csv"), encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def qk_refused(self, query, code, reason, rule=None, basis=None, says=None):
        """A refused query: its status and detail, its audit record, and
        explain's answer to the same question."""
        from grpc_status import detail_of
        from dx.v1 import errors_pb2
        rid = str(uuid.uuid4())
        with self.assertRaises(grpc.RpcError) as ctx:
            self.consumer.stub.Call(self.consumer.signed(
                dataset="test.qkeys", purpose="testing", query=query, fields=["full_name"],
                request_id=rid), timeout=20)
        err = ctx.exception
        self.assertEqual(err.code(), code, err.details())
        detail = detail_of(err)
        self.assertEqual(errors_pb2.ReasonCode.Name(detail.reason), reason, err.details())
        if rule is not None:
            self.assertEqual(detail.policy_rule_id, rule)
        if basis is not None:
            self.assertIn(basis, detail.legal_basis)
        if says is not None:
            self.assertIn(says, err.details())
        records = [r for r in self.env.audit_records() if r.get("request_id") == rid]
        self.assertEqual(len(records), 1, "one audit record per refusal")
        self.assertEqual(records[0]["reason"], reason)
        self.assertNotEqual(records[0].get("decision"), "DECISION_ALLOW")
        self.assertEqual(self.explain(query), (False, reason))
        return err.details()

    def explain(self, query):
        r = self.env.policy("explain", "--consumer", H30, "--dataset", "test.qkeys",
                            "--purpose", "testing", "--fields", "full_name",
                            "--query", ",".join(query), "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = json.loads(r.stdout)
        return bool(out.get("allowed")), out.get("reason", "REASON_UNSPECIFIED")

    # -------------------------------------------------------------- cases --
    def test_qkeys_a_forbidden_field_cannot_be_asked_about(self):
        self.qk_refused({"ethnicity": "Khmer"}, grpc.StatusCode.PERMISSION_DENIED,
                        "REASON_QUERY_NOT_ALLOWED", rule="qkeys-no-ethnicity",
                        basis="Decree 13/2023/ND-CP Art. 2(4)", says="ethnicity")
        # A stream is decided by the same code.
        code, reason, _ = self.consumer.refusal(method="stream", dataset="test.qkeys",
                                                purpose="testing", query={"ethnicity": "Khmer"},
                                                fields=["full_name"])
        self.assertEqual((code, reason),
                         (grpc.StatusCode.PERMISSION_DENIED, "REASON_QUERY_NOT_ALLOWED"))

    def test_qkeys_an_ungranted_field_cannot_be_asked_about(self):
        self.qk_refused({"sex": "F"}, grpc.StatusCode.PERMISSION_DENIED,
                        "REASON_QUERY_NOT_ALLOWED", rule="qkeys-lookup",
                        basis="Law on Data 2024 Art. 18 (tests)", says="field sex")

    def test_qkeys_a_masked_field_by_prefix_or_range_is_refused(self):
        for query in ({"citizen_id.prefix": "0"}, {"birth_date.from": "1990-01-01"},
                      {"birth_date.to": "2000-01-01"}):
            self.qk_refused(query, grpc.StatusCode.PERMISSION_DENIED,
                            "REASON_QUERY_NOT_ALLOWED", rule="qkeys-lookup", says="masked")

    def test_qkeys_a_masked_field_by_equality_is_served_masked(self):
        person = self.population_rows()[3]
        self.assertEqual(self.explain(["citizen_id"]), (True, "REASON_UNSPECIFIED"))
        cols, rows = self.consumer.call(dataset="test.qkeys", purpose="testing",
                                        query={"citizen_id": person["citizen_id"]},
                                        fields=["citizen_id", "full_name"])
        self.assertEqual(cols, ["citizen_id", "full_name"])
        self.assertEqual(rows, [["*" * 8 + person["citizen_id"][-4:], person["full_name"]]])

    def test_qkeys_a_declared_extra_key_looks_up_without_returning(self):
        self.assertEqual(self.explain(["province_code"]), (True, "REASON_UNSPECIFIED"))
        province = self.population_rows()[0]["province_code"]
        expected = sorted(r["full_name"] for r in self.population_rows()
                          if r["province_code"] == province)
        cols, rows = self.consumer.call(dataset="test.qkeys", purpose="testing",
                                        query={"province_code": province},
                                        fields=["full_name"])
        self.assertEqual(cols, ["full_name"])
        self.assertEqual(sorted(r[0] for r in rows), expected)

    def test_qkeys_an_undeclared_key_is_refused_by_the_gateway(self):
        details = self.qk_refused({"salary": "1"}, grpc.StatusCode.INVALID_ARGUMENT,
                                  "REASON_UNKNOWN_QUERY_KEY", says="unknown query key 'salary'")
        self.assertIn("citizen_id, citizen_id.prefix, full_name", details)
