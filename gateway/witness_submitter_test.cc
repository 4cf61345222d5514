// The submitter against a real witness (witness::Witness behind the Post
// seam, no sockets): a node's real audit log (RocksDB, signed tree heads)
// cosigned from scratch, then extended with a consistency proof; a witness
// that already holds a size (a 409 names it) is answered from there; an
// answer whose cosignature is not the peer's key is refused and nothing
// kept; a witness holding a size above the log's is reported, not fed.
#include "gateway/witness_submitter.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "audit/admin.h"
#include "audit/audit_reader.h"
#include "audit/rocksdb_audit_log.h"
#include "audit/state_db.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"
#include "witness/cosignature.h"
#include "witness/keys.h"
#include "witness/note.h"
#include "witness/witness.h"

namespace dx::gateway {
namespace {

constexpr char kOrigin[] = "gw1/audit";

class FixedClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixSeconds(1796601600); }
};

class WitnessSubmitterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string gw = testing::DevPkiDir() + "/gateway/";
    signer_ = *certs::Signer::FromFiles(gw + "sign.key", gw + "sign.pem");
    db_ = *audit::StateDb::Open({testing::MakeTempDir("submit") + "/db"});
    audit::RocksDbAuditLog::Options o;
    o.tree_head_signer = signer_.get();
    o.node_id = "gw1";
    o.tree_head_every_records = 4;
    o.tree_head_interval = absl::Hours(1);
    log_ = *audit::RocksDbAuditLog::Create(db_.get(), o);
    reader_ = std::make_unique<audit::AuditReader>(db_.get());
    witness_ = MakeWitness("hub/witness");
  }
  void TearDown() override {
    log_.reset();
    db_.reset();
  }

  std::unique_ptr<witness::Witness> MakeWitness(const std::string& name) {
    auto cosigner =
        *witness::Cosigner::Create(name, *witness::Ed25519Key::Generate());
    std::vector<witness::Witness::Log> logs(1);
    logs[0].origin = kOrigin;
    auto pub = certs::PublicKeyOfDer(signer_->certificate_der());
    logs[0].keys.push_back(
        *witness::EcdsaNoteVerifier::Create(kOrigin, pub->get()));
    return std::make_unique<witness::Witness>(std::move(cosigner),
                                              std::move(logs), &clock_);
  }

  void Append(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(
          audit::AppendAndWait(log_.get(), audit::AdminRecord("t", "t.x", "x"))
              .ok());
    }
    WaitForHead(*reader_, log_->next_sequence());
  }

  // The log signs a tree head after the batch that completes it: wait on
  // that condition (no fixed sleep).
  static void WaitForHead(const audit::AuditReader& reader, uint64_t size) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (true) {
      auto head = reader.TreeHead(0);
      if (head.ok() && head->tree_size() == size) return;
      ASSERT_LT(absl::Now(), deadline) << "no tree head of size " << size;
      absl::SleepFor(absl::Milliseconds(1));
    }
  }

  // A submitter to `target`, trusting `vkey_of`'s cosigning key.
  std::unique_ptr<WitnessSubmitter> Submitter(witness::Witness* target,
                                              const witness::Witness& vkey_of) {
    WitnessSubmitter::Deps d;
    d.config.set_log_origin(kOrigin);
    v1::WitnessPeer* peer = d.config.add_peers();
    peer->set_url("https://hub.example");
    peer->set_vkey(vkey_of.cosigner().VerifierKeyString());
    d.reader = reader_.get();
    d.db = db_.get();
    d.log_signer = signer_.get();
    d.post = [this, target](const v1::WitnessPeer&, const std::string& body)
        -> absl::StatusOr<WitnessSubmitter::Answer> {
      ++posts_;
      auto r = target->AddCheckpoint(body);
      last_status_ = r.http_status;
      last_evidence_ = r.evidence_of_misbehaviour;
      return WitnessSubmitter::Answer{r.http_status, r.content_type, r.body};
    };
    return *WitnessSubmitter::Create(std::move(d));
  }

  FixedClock clock_;
  std::unique_ptr<certs::Signer> signer_;
  std::unique_ptr<audit::StateDb> db_;
  std::unique_ptr<audit::RocksDbAuditLog> log_;
  std::unique_ptr<audit::AuditReader> reader_;
  std::unique_ptr<witness::Witness> witness_;
  int posts_ = 0;
  int last_status_ = 0;
  bool last_evidence_ = false;
};

TEST_F(WitnessSubmitterTest, CosignsThenExtendsWithAProof) {
  Append(4);
  auto submitter = Submitter(witness_.get(), *witness_);
  submitter->Tick();
  ASSERT_TRUE(witness_->Latest(kOrigin).ok());
  EXPECT_EQ(witness_->Latest(kOrigin)->size, 4u);
  // Kept, and it verifies with the witness's key.
  auto kept = submitter->Cosigned("hub/witness");
  ASSERT_TRUE(kept.ok()) << kept.status();
  auto verifier = *witness::CosignatureVerifier::FromVerifierKey(
      witness_->cosigner().VerifierKeyString());
  EXPECT_TRUE(
      witness::VerifyNote(*witness::ParseNote(*kept), {verifier.get()}).ok());
  // Nothing new: nothing posted.
  const int posts = posts_;
  submitter->Tick();
  EXPECT_EQ(posts_, posts);
  // Grown: cosigned from 4 with a proof the witness checked.
  Append(8);
  submitter->Tick();
  EXPECT_EQ(witness_->Latest(kOrigin)->size, 12u);
}

TEST_F(WitnessSubmitterTest, StartsFromTheSizeA409Names) {
  Append(4);
  // Another submitter (a previous run of this node) had it cosigned.
  Submitter(witness_.get(), *witness_)->Tick();
  Append(4);
  auto fresh = Submitter(witness_.get(), *witness_);  // knows no size
  fresh->Tick();
  EXPECT_EQ(witness_->Latest(kOrigin)->size, 8u);
  EXPECT_TRUE(fresh->Cosigned("hub/witness").ok());
}

TEST_F(WitnessSubmitterTest, ACosignatureFromAnotherKeyIsNotKept) {
  Append(4);
  auto impostor = MakeWitness("hub/witness");  // same name, another key
  auto submitter = Submitter(impostor.get(), *witness_);
  submitter->Tick();
  EXPECT_FALSE(submitter->Cosigned("hub/witness").ok());
}

TEST_F(WitnessSubmitterTest, AWitnessAheadOfTheLogIsNotFed) {
  Append(8);
  Submitter(witness_.get(), *witness_)->Tick();  // holds 8
  // The node's data dir replaced by an older copy: its log is at 4.
  auto old_db = *audit::StateDb::Open({testing::MakeTempDir("old") + "/db"});
  {
    audit::RocksDbAuditLog::Options o;
    o.tree_head_signer = signer_.get();
    o.node_id = "gw1";
    o.tree_head_every_records = 4;
    o.tree_head_interval = absl::Hours(1);
    auto old_log = *audit::RocksDbAuditLog::Create(old_db.get(), o);
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(audit::AppendAndWait(old_log.get(),
                                       audit::AdminRecord("t", "t.y", "y"))
                      .ok());
    }
  }
  reader_ = std::make_unique<audit::AuditReader>(old_db.get());
  auto submitter = Submitter(witness_.get(), *witness_);
  submitter->Tick();  // 409 names 8; the log is at 4: reported, stopped
  EXPECT_EQ(witness_->Latest(kOrigin)->size, 8u);
  // One post each: the second answered 409 at 8 and not retried (no
  // proof from 8 to 4 exists).
  EXPECT_EQ(posts_, 2);
  reader_.reset();
}

TEST_F(WitnessSubmitterTest, AReplacedLogIsShownToItsWitnessAndRefused) {
  Append(4);
  Submitter(witness_.get(), *witness_)->Tick();  // holds 4
  // The node's data dir replaced by a new log, which grew past 4 and signed
  // no tree head at 4: the submitter still sends its checkpoint, with the
  // path from 4 its own leaves give, and the witness refuses it (422).
  auto new_db = *audit::StateDb::Open({testing::MakeTempDir("new") + "/db"});
  {
    audit::RocksDbAuditLog::Options o;
    o.tree_head_signer = signer_.get();
    o.node_id = "gw1";
    o.tree_head_every_records = 6;
    o.tree_head_interval = absl::Hours(1);
    auto new_log = *audit::RocksDbAuditLog::Create(new_db.get(), o);
    for (int i = 0; i < 12; ++i) {
      ASSERT_TRUE(audit::AppendAndWait(new_log.get(),
                                       audit::AdminRecord("t", "t.y", "y"))
                      .ok());
    }
  }
  reader_ = std::make_unique<audit::AuditReader>(new_db.get());
  ASSERT_FALSE(reader_->TreeHead(4).ok());  // no signed head at 4
  posts_ = 0;
  auto submitter = Submitter(witness_.get(), *witness_);
  submitter->Tick();  // from 0: 409 names 4; from 4 with the path: 422
  EXPECT_EQ(posts_, 2);
  EXPECT_EQ(last_status_, 422);
  EXPECT_TRUE(last_evidence_);  // the witness holds it as misbehaviour
  EXPECT_EQ(witness_->Latest(kOrigin)->size, 4u);
  reader_.reset();
}

TEST(WitnessSubmitterConfigTest, ABadPeerVkeyIsNamed) {
  v1::WitnessConfig c;
  c.add_peers()->set_vkey("hub/witness+00000000+AAAA");
  absl::Status s = WitnessSubmitter::CheckPeers(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("witness.peers[0].vkey"), std::string::npos) << s;
}

}  // namespace
}  // namespace dx::gateway
