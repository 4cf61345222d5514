#include "audit/audit_reader.h"

#include <gtest/gtest.h>

#include "audit/admin.h"
#include "audit/rocksdb_audit_log.h"
#include "audit/tree_head.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"

namespace dx::audit {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000'000;  // microseconds
const std::string kSubjectA(32, 'a');
const std::string kSubjectB(32, 'b');

// 30 records: consumers alternate H30/H29, datasets cycle over 3, every
// third is a denial, subjects A/B on some; record i happened at kT0 + i s.
class AuditReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string gw = testing::DevPkiDir() + "/gateway/";
    signer_ = *certs::Signer::FromFiles(gw + "sign.key", gw + "sign.pem");
    db_ = *StateDb::Open({testing::MakeTempDir("reader") + "/db"});
    RocksDbAuditLog::Options o;
    o.tree_head_signer = signer_.get();
    o.tree_head_every_records = 10;
    o.tree_head_interval = absl::Hours(1);
    auto log = *RocksDbAuditLog::Create(db_.get(), o);
    for (int i = 0; i < 30; ++i) {
      v1::AuditRecord r;
      r.set_time_unix_micros(kT0 + i * 1'000'000LL);
      r.set_consumer_agency(i % 2 ? "000.00.00.H29" : "000.00.00.H30");
      r.set_provider_agency("000.00.00.G01");
      r.set_dataset_id(absl::StrCat("ds", i % 3));
      r.set_decision(i % 3 == 0 ? v1::DECISION_DENY : v1::DECISION_ALLOW);
      r.set_request_id(absl::StrCat("req-", i));
      if (i % 5 == 0) r.set_data_subject_hmac(i % 10 ? kSubjectB : kSubjectA);
      ASSERT_TRUE(AppendAndWait(log.get(), r).ok());
    }
    log.reset();
    reader_ = std::make_unique<AuditReader>(db_.get());
  }

  std::vector<uint64_t> All(AuditReader::Filter f, size_t page_size = 100) {
    std::vector<uint64_t> seqs;
    std::string token;
    do {
      auto page = reader_->Query(f, page_size, token);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      for (const auto& r : page->records) seqs.push_back(r.sequence_number());
      token = page->next_page_token;
    } while (!token.empty());
    return seqs;
  }

  std::unique_ptr<certs::Signer> signer_;
  std::unique_ptr<StateDb> db_;
  std::unique_ptr<AuditReader> reader_;
};

TEST_F(AuditReaderTest, ByConsumerAndTimeRange) {
  AuditReader::Filter f;
  f.consumer_agency = "000.00.00.H29";
  f.from_micros = kT0 + 10'000'000;
  f.to_micros = kT0 + 20'000'000;
  EXPECT_EQ(All(f), (std::vector<uint64_t>{11, 13, 15, 17, 19}));
}

TEST_F(AuditReaderTest, EachIndexFindsItsRecords) {
  AuditReader::Filter f;
  f.dataset_id = "ds2";
  EXPECT_EQ(All(f).size(), 10u);
  f = {};
  f.decision = v1::DECISION_DENY;
  EXPECT_EQ(All(f).size(), 10u);
  f = {};
  f.provider_agency = "000.00.00.G01";
  EXPECT_EQ(All(f).size(), 30u);
  f = {};
  f.subject_hmac = kSubjectA;
  EXPECT_EQ(All(f), (std::vector<uint64_t>{0, 10, 20}));
  f = {};
  f.request_id = "req-17";
  EXPECT_EQ(All(f), (std::vector<uint64_t>{17}));
  f = {};
  f.from_micros = kT0 + 28'000'000;
  EXPECT_EQ(All(f), (std::vector<uint64_t>{28, 29}));
}

// A subscription's batch carries many people's records: each is found by
// its subject, through the batch's event_subject_hmacs, as a look-up that
// named them is.
TEST_F(AuditReaderTest, ABatchIsFoundByEachSubjectItCarried) {
  db_.reset();
  reader_.reset();
  db_ = *StateDb::Open({testing::MakeTempDir("reader-batch") + "/db"});
  RocksDbAuditLog::Options o;
  o.tree_head_signer = signer_.get();
  auto log = *RocksDbAuditLog::Create(db_.get(), o);
  const std::string subject_c(32, 'c');
  v1::AuditRecord lookup;
  lookup.set_time_unix_micros(kT0);
  lookup.set_data_subject_hmac(kSubjectA);
  ASSERT_TRUE(AppendAndWait(log.get(), lookup).ok());
  v1::AuditRecord batch;
  batch.set_time_unix_micros(kT0 + 1'000'000);
  batch.set_kind(v1::RECORD_KIND_SUBSCRIPTION_BATCH);
  batch.add_event_subject_hmacs(kSubjectA);
  batch.add_event_subject_hmacs(subject_c);
  ASSERT_TRUE(AppendAndWait(log.get(), batch).ok());
  log.reset();
  reader_ = std::make_unique<AuditReader>(db_.get());
  AuditReader::Filter f;
  f.subject_hmac = kSubjectA;
  EXPECT_EQ(All(f), (std::vector<uint64_t>{0, 1}));
  f.subject_hmac = subject_c;
  EXPECT_EQ(All(f), (std::vector<uint64_t>{1}));
  f.subject_hmac = kSubjectB;
  EXPECT_TRUE(All(f).empty());
  // With another filter the reader checks the record itself (no subject
  // index): the batch still matches its subjects.
  f.subject_hmac = subject_c;
  f.from_micros = kT0;
  EXPECT_EQ(All(f), (std::vector<uint64_t>{1}));
}

// Every way a record leaves the reader says whether its names were proven:
// the denials of the fixture were never verified (their consumer is only
// claimed), the allowed exchanges were served.
TEST_F(AuditReaderTest, EveryRecordReadSaysWhetherItsNamesWereProven) {
  auto want = [](uint64_t seq) {
    return seq % 3 == 0 ? v1::ATTRIBUTION_CLAIMED : v1::ATTRIBUTION_VERIFIED;
  };
  for (uint64_t seq : {0, 1, 3, 4}) {
    auto rec = reader_->Get(seq);
    ASSERT_TRUE(rec.ok()) << rec.status();
    EXPECT_EQ(rec->attribution(), want(seq)) << seq;
  }
  auto page = reader_->Query({}, 100, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->records.size(), 30u);
  for (const auto& r : page->records) {
    EXPECT_EQ(r.attribution(), want(r.sequence_number()));
  }
  size_t n = 0;
  ASSERT_TRUE(reader_
                  ->ReadRange(0, 0,
                              [&](v1::StoredRecord&& r) {
                                EXPECT_EQ(r.attribution(),
                                          want(r.sequence_number()));
                                ++n;
                                return true;
                              })
                  .ok());
  EXPECT_EQ(n, 30u);
}

TEST_F(AuditReaderTest, CombinedFiltersAreAnded) {
  AuditReader::Filter f;
  f.consumer_agency = "000.00.00.H30";
  f.decision = v1::DECISION_DENY;
  EXPECT_EQ(All(f), (std::vector<uint64_t>{0, 6, 12, 18, 24}));
  f.dataset_id = "ds0";
  EXPECT_EQ(All(f), (std::vector<uint64_t>{0, 6, 12, 18, 24}));
  f.dataset_id = "ds1";
  EXPECT_TRUE(All(f).empty());
}

TEST_F(AuditReaderTest, PagesChainWithoutGapsOrRepeats) {
  AuditReader::Filter f;
  f.consumer_agency = "000.00.00.H30";
  std::vector<uint64_t> paged = All(f, 4);
  std::vector<uint64_t> whole = All(f, 100);
  EXPECT_EQ(paged, whole);
  EXPECT_EQ(whole.size(), 15u);
  auto first = reader_->Query(f, 4, "");
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->next_page_token.empty());
  AuditReader::Filter other;
  other.dataset_id = "ds1";
  EXPECT_EQ(reader_->Query(other, 4, first->next_page_token).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reader_->Query(f, 4, "!!garbage!!").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AuditReaderTest, ProofsVerifyAgainstSignedHeads) {
  certs::PkeyPtr key = *certs::PublicKeyOfDer(signer_->certificate_der());
  for (uint64_t seq : {0, 7, 19, 29}) {
    auto p = reader_->Inclusion(seq, 0);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->tree_size(), 30u);
    EXPECT_TRUE(VerifyTreeHead(p->tree_head(), key.get()));
    EXPECT_TRUE(VerifyInclusion(seq, 30, p->leaf_hash(),
                                {p->path().begin(), p->path().end()},
                                p->tree_head().root_hash()));
  }
  auto p10 = reader_->Inclusion(3, 10);
  ASSERT_TRUE(p10.ok());
  EXPECT_EQ(p10->tree_head().tree_size(), 10u);
  EXPECT_FALSE(reader_->Inclusion(3, 11).ok());  // no tree head of size 11
  auto c = reader_->Consistency(10, 30);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(VerifyConsistency(10, 30, c->first_tree_head().root_hash(),
                                c->second_tree_head().root_hash(),
                                {c->path().begin(), c->path().end()}));
  auto hashes = reader_->CompactRangeHashes(20);
  ASSERT_TRUE(hashes.ok());
  auto range = CompactRange::FromHashes(20, *hashes);
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->Root(), reader_->TreeHead(20)->root_hash());
}

TEST_F(AuditReaderTest, MissingRecordIsNotFound) {
  EXPECT_EQ(reader_->Get(30).status().code(), absl::StatusCode::kNotFound);
  auto r = reader_->Get(5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->record().request_id(), "req-5");
}

}  // namespace
}  // namespace dx::audit
