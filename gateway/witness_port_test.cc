// The witness's configuration (validated at load and at start, with
// messages that name the field) and its HTTP handling without sockets:
// 404, 405, the statuses copied out, and a refusal that is evidence
// audited with both checkpoints. The socket side (TLS, limits, restart)
// is tests/e2e/witness_e2e_test.py's.
#include "gateway/witness_port.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "audit/audit_log.h"
#include "audit/merkle.h"
#include "audit/state_db.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/files.h"
#include "common/testing/temp_dir.h"
#include "gateway/config.h"
#include "witness/checkpoint.h"
#include "witness/keys.h"
#include "witness/rocksdb_store.h"
#include "witness/witness.h"

namespace dx::gateway {
namespace {

constexpr char kOrigin[] = "gw9.dxgate.example/audit";

class FixedClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixSeconds(1796601600); }
};

// Records what is appended, and says it is durable at once.
class RecordingLog final : public audit::AuditLog {
 public:
  void Append(v1::AuditRecord record, Callback done) override {
    uint64_t n = 0;
    {
      absl::MutexLock lock(&mu_);
      records_.push_back(std::move(record));
      n = records_.size();
    }
    done(audit::AppendResult{n, ""});
  }
  absl::Status Health() const override { return absl::OkStatus(); }
  std::vector<v1::AuditRecord> records() const {
    absl::MutexLock lock(&mu_);
    return records_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<v1::AuditRecord> records_;
};

std::string HeaderOf(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

std::string WriteConfig(const std::string& witness) {
  const std::string dir = testing::MakeTempDir("dx-witness-config-");
  const std::string path = dir + "/dxgate.yaml";
  std::ofstream(path) << "node_id: gw1\n"
                         "tls: {cert_file: t.pem, key_file: t.key}\n"
                         "signing: {cert_file: s.pem, key_file: s.key}\n"
                         "trust: {ca_file: ca.pem}\n"
                         "data_dir: data\n"
                         "registry_file: registry.yaml\n"
                      << witness;
  return path;
}

TEST(WitnessConfigTest, OffUnlessAListenAddressIsSet) {
  auto c = LoadGatewayConfig(WriteConfig(""));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->witness().listen_address().empty());
  auto w = BuildWitness(c->witness(), nullptr, nullptr);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, nullptr);
}

TEST(WitnessConfigTest, ResolvesItsFiles) {
  const std::string path = WriteConfig(
      "witness: {listen_address: '127.0.0.1:0', key_file: w.key, name: "
      "hub/witness, port_file: w.port, logs: [{origin: a/log, "
      "public_key_files: [a.pem]}]}\n");
  auto c = LoadGatewayConfig(path);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string dir = path.substr(0, path.rfind('/'));
  EXPECT_EQ(c->witness().key_file(), dir + "/w.key");
  EXPECT_EQ(c->witness().port_file(), dir + "/w.port");
  EXPECT_EQ(c->witness().logs(0).public_key_files(0), dir + "/a.pem");
}

TEST(WitnessConfigTest, ABadSectionIsNamed) {
  const std::string ok_log = "logs: [{origin: a/log, vkeys: ['x']}]";
  for (const auto& [witness, field] :
       std::vector<std::pair<std::string, std::string>>{
           {"{key_file: w.key, " + ok_log + "}", "witness.listen_address"},
           {"{listen_address: ':0', name: n, " + ok_log + "}",
            "witness.key_file"},
           {"{listen_address: ':0', key_file: k, " + ok_log + "}",
            "witness.name"},
           {"{listen_address: ':0', key_file: k, name: 'a b', " + ok_log + "}",
            "witness.name"},
           {"{listen_address: ':0', key_file: k, name: n, path_prefix: w, " +
                ok_log + "}",
            "witness.path_prefix"},
           {"{listen_address: ':0', key_file: k, name: n, path_prefix: /w/, " +
                ok_log + "}",
            "witness.path_prefix"},
           {"{listen_address: ':0', key_file: k, name: n}", "witness.logs"},
           {"{listen_address: ':0', key_file: k, name: n, logs: [{vkeys: "
            "[x]}]}",
            "witness.logs[0].origin"},
           {"{listen_address: ':0', key_file: k, name: n, logs: [{origin: "
            "a}]}",
            "witness.logs[0]"},
           {"{listen_address: ':0', key_file: k, name: n, logs: [{origin: a, "
            "vkeys: [x]}, {origin: a, vkeys: [y]}]}",
            "listed twice"}}) {
    auto c = LoadGatewayConfig(WriteConfig("witness: " + witness + "\n"));
    ASSERT_FALSE(c.ok()) << witness;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(c.status().message(), field)) << c.status();
  }
}

class WitnessPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("dx-witness-port-");
    const std::string gw = testing::DevPkiDir() + "/gateway/";
    log_signer_ = *certs::Signer::FromFiles(gw + "sign.key", gw + "sign.pem");
    note_signer_ =
        *witness::EcdsaNoteSigner::Create(kOrigin, log_signer_.get());
    auto cert = *certs::ParseCertificateDer(log_signer_->certificate_der());
    ASSERT_TRUE(
        WriteFileAtomically(dir_ + "/log.pem", certs::PublicKeyPem(cert.get()))
            .ok());
    ASSERT_TRUE(
        WriteFileAtomically(dir_ + "/w.key",
                            (*witness::Ed25519Key::Generate())->PrivatePem())
            .ok());
    db_ = *audit::StateDb::Open({dir_ + "/db"});
    config_.set_listen_address("127.0.0.1:0");
    config_.set_key_file(dir_ + "/w.key");
    config_.set_name("hub.example/witness");
    config_.set_path_prefix("/w");
    v1::WitnessedLog* log = config_.add_logs();
    log->set_origin(kOrigin);
    log->add_public_key_files(dir_ + "/log.pem");
  }

  // The checkpoint of a tree of `n` leaves (salted), signed by the log.
  std::string Checkpoint(uint64_t n, const std::string& salt = "") {
    audit::CompactRange range;
    for (uint64_t i = 0; i < n; ++i) {
      range.Append(audit::HashLeaf(absl::StrCat(salt, i)),
                   [](int, uint64_t, const std::string&) {});
    }
    return *witness::SignCheckpoint({kOrigin, n, range.Root(), {}},
                                    *note_signer_);
  }

  std::unique_ptr<witness::WitnessStore> Store() {
    return std::make_unique<witness::RocksDbWitnessStore>(db_.get());
  }

  std::string dir_;
  FixedClock clock_;
  std::unique_ptr<certs::Signer> log_signer_;
  std::unique_ptr<witness::EcdsaNoteSigner> note_signer_;
  std::unique_ptr<audit::StateDb> db_;
  v1::WitnessConfig config_;
};

TEST_F(WitnessPortTest, BadKeysAreNamedAtStart) {
  // The witness key: not Ed25519 (the log's P-256 certificate).
  v1::WitnessConfig c = config_;
  c.set_key_file(testing::DevPkiDir() + "/gateway/sign.key");
  auto w = BuildWitness(c, Store(), &clock_);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(absl::StrContains(w.status().message(), "witness.key_file"))
      << w.status();
  EXPECT_TRUE(absl::StrContains(w.status().message(), "openssl genpkey"));
  // A missing key file.
  c.set_key_file(dir_ + "/none.key");
  EXPECT_FALSE(BuildWitness(c, Store(), &clock_).ok());
  // A log key file that holds no public key.
  c = config_;
  c.mutable_logs(0)->set_public_key_files(0, dir_ + "/w.key");
  w = BuildWitness(c, Store(), &clock_);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(absl::StrContains(w.status().message(),
                                "witness.logs[0].public_key_files[0]"))
      << w.status();
  // A vkey that does not parse, and one named for another origin.
  c = config_;
  c.mutable_logs(0)->add_vkeys("not a vkey");
  w = BuildWitness(c, Store(), &clock_);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(
      absl::StrContains(w.status().message(), "witness.logs[0].vkeys[0]"))
      << w.status();
  auto pub = certs::PublicKeyOfDer(log_signer_->certificate_der());
  auto other = *witness::EcdsaNoteVerifier::Create("other/log", pub->get());
  c = config_;
  c.mutable_logs(0)->add_vkeys(other->VerifierKeyString());
  w = BuildWitness(c, Store(), &clock_);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(absl::StrContains(w.status().message(), "is not the log's"))
      << w.status();
  // The right vkey is taken.
  auto mine = *witness::EcdsaNoteVerifier::Create(kOrigin, pub->get());
  c = config_;
  c.mutable_logs(0)->clear_public_key_files();
  c.mutable_logs(0)->add_vkeys(mine->VerifierKeyString());
  w = BuildWitness(c, Store(), &clock_);
  ASSERT_TRUE(w.ok()) << w.status();
}

TEST_F(WitnessPortTest, HandlesPathsMethodsAndAuditsEvidence) {
  RecordingLog log;
  WitnessPort::Options o;
  o.config = &config_;
  const std::string gw = testing::DevPkiDir() + "/gateway/";
  o.cert_file = gw + "tls.pem";
  o.key_file = gw + "tls.key";
  o.witness = *BuildWitness(config_, Store(), &clock_);
  o.audit_log = &log;
  auto port = WitnessPort::Start(std::move(o));
  ASSERT_TRUE(port.ok()) << port.status();
  auto call = [&](const std::string& method, const std::string& path,
                  const std::string& body) {
    http::Request req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.remote_address = "192.0.2.7";
    http::Response res;
    (*port)->Handle(req, res);
    return res;
  };
  auto add = [&](uint64_t old_size, const std::string& cp) {
    return call("POST", "/w/add-checkpoint",
                witness::FormatAddCheckpointRequest({old_size, {}, cp}));
  };
  EXPECT_EQ(call("POST", "/add-checkpoint", "").status, 404);
  http::Response r = call("GET", "/w/add-checkpoint", "");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(HeaderOf(r, "Allow"), "POST");
  EXPECT_EQ(call("POST", "/w/add-checkpoint", "old x\n").status, 400);

  const std::string first = Checkpoint(5);
  r = add(0, first);
  ASSERT_EQ(r.status, 200) << r.body;
  r = add(0, Checkpoint(6));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body, "5\n");
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "text/x.tlog.size");
  EXPECT_TRUE(log.records().empty());  // a stale size is no evidence

  const std::string forged = Checkpoint(5, "rewritten ");
  r = add(5, forged);
  EXPECT_EQ(r.status, 409);
  ASSERT_EQ(log.records().size(), 1u);
  const v1::AuditRecord rec = log.records()[0];
  EXPECT_EQ(rec.kind(), v1::RECORD_KIND_WITNESS_REFUSAL);
  EXPECT_EQ(rec.decision(), v1::DECISION_DENY);
  EXPECT_EQ(rec.status_code(), 409);
  EXPECT_EQ(rec.peer(), "192.0.2.7");
  EXPECT_EQ(rec.witness_evidence().origin(), kOrigin);
  EXPECT_EQ(rec.witness_evidence().cosigned_size(), 5u);
  EXPECT_EQ(rec.witness_evidence().submitted_size(), 5u);
  EXPECT_EQ(rec.witness_evidence().cosigned_note(), first);
  EXPECT_EQ(rec.witness_evidence().submitted_note(), forged);
  EXPECT_NE(rec.witness_evidence().cosigned_root(),
            rec.witness_evidence().submitted_root());
  // Replayed (by anyone who holds it): refused again, audited once.
  EXPECT_EQ(add(5, forged).status, 409);
  EXPECT_EQ(log.records().size(), 1u);
  // Another inconsistent checkpoint is new evidence.
  EXPECT_EQ(add(5, Checkpoint(5, "again ")).status, 409);
  EXPECT_EQ(log.records().size(), 2u);
}

}  // namespace
}  // namespace dx::gateway
