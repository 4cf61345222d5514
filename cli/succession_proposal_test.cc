// The policy change a succession proposes: every grant of the old code
// copied to each successor right after it, groups extended, idempotent.
#include "cli/succession_proposal.h"

#include "gtest/gtest.h"

namespace dx::cli {
namespace {

v1::Registry Registry() {
  v1::Registry r;
  v1::Succession* s = r.add_successions();
  s->set_agency("000.00.00.H30");
  s->add_successors("000.00.00.H31");
  s->set_effective("2025-07-01T00:00:00+07:00");
  s->set_legal_basis("Resolution 202/2025/QH15");
  return r;
}

v1::PolicyDocument Policy() {
  v1::PolicyDocument d;
  v1::AgencyGroup* g = d.mutable_directory()->add_groups();
  g->set_name("southwest");
  g->add_members("000.00.00.H30");
  v1::DatasetPolicy* p = d.add_datasets();
  p->set_dataset("bca.population");
  v1::Grant* a = p->add_grants();
  a->set_id("h30-civil");
  a->add_consumers("000.00.00.H30");
  a->add_purposes("civil-registration");
  a->add_fields("full_name");
  a->mutable_quota()->set_requests_per_minute(60);
  a->mutable_quota()->set_records_per_day(1000);
  a->set_legal_basis("Decree 194/2025/ND-CP Art. 16");
  v1::Grant* b = p->add_grants();
  b->set_id("provinces");
  b->add_consumers("000.00.00.H*");
  v1::DatasetPolicy* other = d.add_datasets();
  other->set_dataset("mof.business");
  other->add_grants()->set_id("g12-only");
  other->mutable_grants(0)->add_consumers("000.00.00.G12");
  return d;
}

TEST(SuccessionProposalTest, CopiesEveryGrantAndQuotaRightAfterIt) {
  auto p = ProposeSuccession(Policy(), Registry(), "000.00.00.H30");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->successors, std::vector<std::string>{"000.00.00.H31"});
  // Only the dataset with a grant of H30 is in the change, whole.
  ASSERT_EQ(p->change.datasets_size(), 1);
  const v1::DatasetPolicy& d = p->change.datasets(0);
  EXPECT_EQ(d.dataset(), "bca.population");
  ASSERT_EQ(d.grants_size(), 3);
  EXPECT_EQ(d.grants(0).id(), "h30-civil");
  const v1::Grant& copy = d.grants(1);
  EXPECT_EQ(copy.id(), "h30-civil@000.00.00.H31");
  ASSERT_EQ(copy.consumers_size(), 1);
  EXPECT_EQ(copy.consumers(0), "000.00.00.H31");
  EXPECT_EQ(copy.purposes(0), "civil-registration");
  EXPECT_EQ(copy.fields(0), "full_name");
  EXPECT_EQ(copy.quota().requests_per_minute(), 60u);
  EXPECT_EQ(copy.quota().records_per_day(), 1000u);
  EXPECT_EQ(copy.legal_basis(), "Decree 194/2025/ND-CP Art. 16");
  EXPECT_NE(copy.description().find("Resolution 202/2025/QH15"),
            std::string::npos);
  EXPECT_EQ(d.grants(2).id(), "provinces");
  // The group gains the successor.
  ASSERT_TRUE(p->change.has_directory());
  EXPECT_EQ(p->change.directory().groups(0).members_size(), 2);
  EXPECT_EQ(p->change.directory().groups(0).members(1), "000.00.00.H31");
  // The pattern grant is left to the reviewer, and said so.
  bool noted = false;
  for (const auto& n : p->notes) {
    noted |= n.find("by the pattern 000.00.00.H*") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

TEST(SuccessionProposalTest, IsIdempotent) {
  auto first = ProposeSuccession(Policy(), Registry(), "000.00.00.H30");
  ASSERT_TRUE(first.ok());
  v1::PolicyDocument applied = Policy();
  *applied.mutable_datasets(0) = first->change.datasets(0);
  *applied.mutable_directory() = first->change.directory();
  auto again = ProposeSuccession(applied, Registry(), "000.00.00.H30");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->change.datasets_size(), 0);
  EXPECT_FALSE(again->change.has_directory());
}

TEST(SuccessionProposalTest, RefusesAnAgencyWithoutSuccession) {
  auto p = ProposeSuccession(Policy(), Registry(), "000.00.00.H29");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("no succession for agency"),
            std::string::npos);
}

}  // namespace
}  // namespace dx::cli
