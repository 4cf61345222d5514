// ConfigReloader on temporary files: what changed is applied once, a
// watched change only once it has held for a look, a refused change is
// refused once and recorded, and nothing runs after Stop().
#include "gateway/config_reloader.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "audit/testing/fake_admin_recorder.h"
#include "certs/testing/dev_pki.h"
#include "common/files.h"
#include "common/testing/temp_dir.h"

namespace dx::gateway {
namespace {

class ConfigReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("config-reloader");
    Write("a.pem", "one");
    Write("b.pem", "two");
  }
  void Write(const std::string& name, const std::string& text) {
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/" + name, text).ok());
  }
  // One reloadable over a.pem and b.pem that says what it read, or
  // refuses a file holding "bad".
  std::unique_ptr<ConfigReloader> Make(bool records_itself = false) {
    ConfigReloader::Reloadable r;
    r.name = "pair";
    r.files = {dir_ + "/a.pem", dir_ + "/b.pem"};
    r.records_itself = records_itself;
    r.apply =
        [this](const std::string& trigger) -> absl::StatusOr<std::string> {
      triggers_.push_back(trigger);
      absl::StatusOr<std::string> a = ReadFile(dir_ + "/a.pem");
      absl::StatusOr<std::string> b = ReadFile(dir_ + "/b.pem");
      if (!a.ok()) return a.status();
      if (!b.ok()) return b.status();
      if (*a == "bad") return absl::InvalidArgumentError("a.pem is bad");
      return *a + "+" + *b;
    };
    return std::make_unique<ConfigReloader>(
        std::vector<ConfigReloader::Reloadable>{r}, &recorder_, "gateway:gw1");
  }

  std::string dir_;
  std::vector<std::string> triggers_;
  audit::FakeAdminRecorder recorder_;
};

TEST_F(ConfigReloaderTest, NothingChangedNothingApplied) {
  auto reloader = Make();
  reloader->Reload("SIGHUP");
  reloader->Reload("");
  EXPECT_TRUE(triggers_.empty());
  EXPECT_TRUE(recorder_.records().empty());
}

TEST_F(ConfigReloaderTest, ASignalAppliesAChangeAtOnceAndRecordsIt) {
  auto reloader = Make();
  Write("b.pem", "three");
  reloader->Reload("SIGHUP");
  ASSERT_EQ(triggers_, std::vector<std::string>{"SIGHUP"});
  ASSERT_EQ(recorder_.records().size(), 1u);
  EXPECT_EQ(recorder_.records()[0],
            "gateway:gw1 gateway.reload pair (SIGHUP): one+three");
  // Seen: not applied again.
  reloader->Reload("SIGHUP");
  EXPECT_EQ(triggers_.size(), 1u);
}

TEST_F(ConfigReloaderTest, AWatchedChangeIsTakenOnceItHeldForALook) {
  auto reloader = Make();
  Write("a.pem", "new");
  reloader->Reload("");  // the key is written; the certificate may follow
  EXPECT_TRUE(triggers_.empty());
  Write("b.pem", "pair");
  reloader->Reload("");  // changed again since the last look: still settling
  EXPECT_TRUE(triggers_.empty());
  reloader->Reload("");  // held: taken, both files together
  ASSERT_EQ(triggers_.size(), 1u);
  EXPECT_TRUE(absl::StrContains(triggers_[0], "a change to "));
  ASSERT_EQ(recorder_.records().size(), 1u);
  EXPECT_TRUE(absl::StrContains(recorder_.records()[0], "new+pair"));
}

TEST_F(ConfigReloaderTest,
       ARefusedChangeIsRecordedOnceAndReadAgainWhenItChanges) {
  auto reloader = Make();
  Write("a.pem", "bad");
  reloader->Reload("SIGHUP");
  reloader->Reload("SIGHUP");
  ASSERT_EQ(triggers_.size(), 1u);
  ASSERT_EQ(recorder_.records().size(), 1u);
  EXPECT_TRUE(absl::StrContains(recorder_.records()[0],
                                "gateway.reload-refused pair (SIGHUP), the one "
                                "in force stays: a.pem is bad"))
      << recorder_.records()[0];
  Write("a.pem", "good");
  reloader->Reload("SIGHUP");
  EXPECT_EQ(triggers_.size(), 2u);
  EXPECT_TRUE(absl::StrContains(recorder_.records()[1], "gateway.reload pair"));
}

TEST_F(ConfigReloaderTest, OneThatRecordsItselfIsNotRecordedTwice) {
  auto reloader = Make(/*records_itself=*/true);
  Write("a.pem", "other");
  reloader->Reload("SIGHUP");
  EXPECT_EQ(triggers_.size(), 1u);
  EXPECT_TRUE(recorder_.records().empty());
}

TEST_F(ConfigReloaderTest, NothingIsAppliedAfterStop) {
  auto reloader = Make();
  reloader->Stop();
  Write("a.pem", "late");
  reloader->Reload("SIGHUP");
  EXPECT_TRUE(triggers_.empty());
}

TEST_F(ConfigReloaderTest, AMissingFileIsAChange) {
  auto reloader = Make();
  ASSERT_EQ(std::remove((dir_ + "/b.pem").c_str()), 0);
  reloader->Reload("SIGHUP");
  // Applied, and refused: the apply cannot read it.
  EXPECT_EQ(triggers_.size(), 1u);
  ASSERT_EQ(recorder_.records().size(), 1u);
  EXPECT_TRUE(
      absl::StrContains(recorder_.records()[0], "gateway.reload-refused"));
}

}  // namespace
}  // namespace dx::gateway
