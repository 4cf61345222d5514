// The WitnessStore conformance suite, run on both implementations, and the
// witness's restart: its state saved in a real RocksDB (the node's state
// database in a temp dir), closed, reopened, still refusing what it
// refused before.
#include "witness/store.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "audit/merkle.h"
#include "audit/state_db.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "witness/checkpoint.h"
#include "witness/keys.h"
#include "witness/rocksdb_store.h"
#include "witness/witness.h"

namespace dx::witness {
namespace {

// Each implementation, opened afresh over the same backing state, so the
// suite checks that what one instance saved another loads.
class WitnessStoreConformance : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (GetParam() == 0) {
      // In memory: "reopening" returns the same store (no disk to reload).
      auto shared = std::make_shared<InMemoryWitnessStore>();
      reopen_ = [shared] {
        struct View final : WitnessStore {
          explicit View(std::shared_ptr<InMemoryWitnessStore> s)
              : s_(std::move(s)) {}
          absl::StatusOr<WitnessedCheckpoints> LoadAll() const override {
            return s_->LoadAll();
          }
          absl::Status Save(absl::string_view o,
                            const WitnessedCheckpoint& c) override {
            return s_->Save(o, c);
          }
          std::shared_ptr<InMemoryWitnessStore> s_;
        };
        return std::unique_ptr<WitnessStore>(new View(shared));
      };
    } else {
      const std::string dir = testing::MakeTempDir("witness-store") + "/db";
      reopen_ = [this, dir] {
        db_.reset();  // closes the previous instance first
        db_ = *audit::StateDb::Open({dir});
        return std::unique_ptr<WitnessStore>(
            new RocksDbWitnessStore(db_.get()));
      };
    }
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
  }

  WitnessStore& Reopen() {
    store_.reset();
    store_ = reopen_();
    return *store_;
  }

  std::function<std::unique_ptr<WitnessStore>()> reopen_;
  std::unique_ptr<audit::StateDb> db_;
  std::unique_ptr<WitnessStore> store_;
};

TEST_P(WitnessStoreConformance, SavesReplacesAndReloads) {
  EXPECT_TRUE(Reopen().LoadAll()->empty());
  const std::string root_a(32, 'a'), root_b(32, 'b');
  ASSERT_TRUE(store_->Save("log.a/x", {5, root_a, "note a\n"}).ok());
  ASSERT_TRUE(store_->Save("log.b", {1, root_b, ""}).ok());
  ASSERT_TRUE(store_->Save("log.a/x", {9, root_b, "note a2\n"}).ok());
  // An origin that is a prefix of another stays apart from it.
  ASSERT_TRUE(store_->Save("log.a", {2, root_a, "short\n"}).ok());
  auto all = Reopen().LoadAll();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ(all->at("log.a/x").size, 9u);
  EXPECT_EQ(all->at("log.a/x").root_hash, root_b);
  EXPECT_EQ(all->at("log.a/x").note, "note a2\n");
  EXPECT_EQ(all->at("log.a").size, 2u);
  EXPECT_EQ(all->at("log.b").note, "");
}

INSTANTIATE_TEST_SUITE_P(Stores, WitnessStoreConformance,
                         ::testing::Values(0, 1),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return i.param == 0 ? std::string("InMemory")
                                               : std::string("RocksDb");
                         });

TEST(WitnessedCheckpointCodingTest, RoundTripsAndRefusesDamage) {
  const WitnessedCheckpoint in{uint64_t{1} << 40 | 7, std::string(32, '\x01'),
                               "o\n3\nr\n\n— o x\n"};
  auto out = DecodeWitnessedCheckpoint(EncodeWitnessedCheckpoint(in));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->size, in.size);
  EXPECT_EQ(out->root_hash, in.root_hash);
  EXPECT_EQ(out->note, in.note);
  EXPECT_EQ(DecodeWitnessedCheckpoint(std::string(39, '\0')).status().code(),
            absl::StatusCode::kDataLoss);
}

class FixedClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixSeconds(1796601600); }
};

constexpr char kOrigin[] = "gw1.dxgate.example/audit";

// A log of `n` numbered leaves, its root.
std::string RootOf(uint64_t n, const std::string& salt = "") {
  audit::CompactRange range;
  for (uint64_t i = 0; i < n; ++i) {
    range.Append(audit::HashLeaf(absl::StrCat(salt, "leaf ", i)),
                 [](int, uint64_t, const std::string&) {});
  }
  return range.Root();
}

// The spec's restart case: cosign, stop, start again on the same database;
// a submission from old size 0 (what a log sends to a witness it believes
// new) gets 409 with the size cosigned, and the rewritten log stays refused.
TEST(WitnessRestartTest, AWitnessReopenedHoldsTheSizeItCosigned) {
  const std::string gw = testing::DevPkiDir() + "/gateway/";
  auto log_signer = *certs::Signer::FromFiles(gw + "sign.key", gw + "sign.pem");
  auto note_signer = *EcdsaNoteSigner::Create(kOrigin, log_signer.get());
  const std::string witness_pem = (*Ed25519Key::Generate())->PrivatePem();
  const std::string dir = testing::MakeTempDir("witness-restart") + "/db";
  FixedClock clock;
  auto open = [&](audit::StateDb* db) {
    std::vector<Witness::Log> logs(1);
    logs[0].origin = kOrigin;
    auto pub = certs::PublicKeyOfDer(log_signer->certificate_der());
    logs[0].keys.push_back(*EcdsaNoteVerifier::Create(kOrigin, pub->get()));
    auto w = Witness::Open(
        *Cosigner::Create("hub.example/witness",
                          *Ed25519Key::FromPrivatePem(witness_pem)),
        std::move(logs), &clock, std::make_unique<RocksDbWitnessStore>(db));
    EXPECT_TRUE(w.ok()) << w.status();
    return *std::move(w);
  };
  auto checkpoint = [&](uint64_t size, const std::string& root) {
    return *SignCheckpoint(Checkpoint{kOrigin, size, root, {}}, *note_signer);
  };
  const std::string cp = checkpoint(12, RootOf(12));
  {
    auto db = *audit::StateDb::Open({dir});
    auto witness = open(db.get());
    auto r = witness->AddCheckpoint(FormatAddCheckpointRequest({0, {}, cp}));
    ASSERT_EQ(r.http_status, 200) << r.reason;
  }  // the witness, then the database, closed
  auto db = *audit::StateDb::Open({dir});
  auto witness = open(db.get());
  auto r = witness->AddCheckpoint(
      FormatAddCheckpointRequest({0, {}, checkpoint(20, RootOf(20, "new "))}));
  EXPECT_EQ(r.http_status, 409) << r.reason;
  EXPECT_EQ(r.content_type, "text/x.tlog.size");
  EXPECT_EQ(r.body, "12\n");
  auto latest = witness->Latest(kOrigin);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->size, 12u);
  EXPECT_EQ(latest->root_hash, RootOf(12));
  EXPECT_EQ(latest->note, cp);
  // The same size with another root is still seen as a rewrite.
  r = witness->AddCheckpoint(
      FormatAddCheckpointRequest({12, {}, checkpoint(12, RootOf(12, "x "))}));
  EXPECT_EQ(r.http_status, 409);
  EXPECT_TRUE(r.evidence_of_misbehaviour);
}

// A store that fails: nothing is cosigned and the witness does not move.
TEST(WitnessRestartTest, AFailedSaveCosignsNothing) {
  struct Failing final : WitnessStore {
    absl::StatusOr<WitnessedCheckpoints> LoadAll() const override {
      return WitnessedCheckpoints();
    }
    absl::Status Save(absl::string_view, const WitnessedCheckpoint&) override {
      return absl::UnavailableError("disk full");
    }
  };
  const std::string gw = testing::DevPkiDir() + "/gateway/";
  auto log_signer = *certs::Signer::FromFiles(gw + "sign.key", gw + "sign.pem");
  auto note_signer = *EcdsaNoteSigner::Create(kOrigin, log_signer.get());
  std::vector<Witness::Log> logs(1);
  logs[0].origin = kOrigin;
  auto pub = certs::PublicKeyOfDer(log_signer->certificate_der());
  logs[0].keys.push_back(*EcdsaNoteVerifier::Create(kOrigin, pub->get()));
  FixedClock clock;
  auto witness = *Witness::Open(
      *Cosigner::Create("hub.example/witness", *Ed25519Key::Generate()),
      std::move(logs), &clock, std::make_unique<Failing>());
  auto r = witness->AddCheckpoint(FormatAddCheckpointRequest(
      {0,
       {},
       *SignCheckpoint(Checkpoint{kOrigin, 3, RootOf(3), {}}, *note_signer)}));
  EXPECT_EQ(r.http_status, 500);
  EXPECT_NE(r.reason.find("disk full"), std::string::npos);
  EXPECT_EQ(r.body.find("—"), std::string::npos);  // no cosignature
  EXPECT_FALSE(witness->Latest(kOrigin).ok());
}

}  // namespace
}  // namespace dx::witness
