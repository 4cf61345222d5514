// Command tables: dispatch, each subcommand's own flags, usage errors.
#include "cli/command.h"

#include <string>
#include <vector>

#include "cli/output.h"
#include "gtest/gtest.h"

namespace dx::cli {
namespace {

struct Seen {
  std::string ran;
  Flags flags = *Flags::Parse({}, {}, {});
  std::vector<std::string> passed;
};

CommandTable Table(Seen* seen) {
  return CommandTable{"t",
                      "usage: dxctl t SUBCOMMAND\n",
                      "footer\n",
                      {"gateway"},
                      {"json"},
                      {
                          {"get",
                           "get SEQ [--limit N]",
                           "one record",
                           {"limit"},
                           {},
                           {"limit"},
                           [seen](const Flags& f) {
                             seen->ran = "get";
                             seen->flags = f;
                             return kExitOk;
                           }},
                          {"put",
                           "put --file F",
                           "store",
                           {"file"},
                           {"force"},
                           {},
                           [seen](const Flags& f) {
                             seen->ran = "put";
                             seen->flags = f;
                             return kExitFailed;
                           }},
                          {"sub",
                           "sub ...",
                           "its own flags",
                           {},
                           {},
                           {},
                           nullptr,
                           [seen](const std::vector<std::string>& args) {
                             seen->ran = "sub";
                             seen->passed = args;
                             return 7;
                           }},
                      }};
}

TEST(DispatchTest, RunsTheNamedCommandWithItsFlagsAndTheCommonOnes) {
  Seen seen;
  EXPECT_EQ(Dispatch(Table(&seen), {"get", "12", "--limit", "3", "--gateway",
                                    "a:1", "--json"}),
            kExitOk);
  EXPECT_EQ(seen.ran, "get");
  EXPECT_EQ(seen.flags.Get("limit"), "3");
  EXPECT_EQ(seen.flags.Get("gateway"), "a:1");
  EXPECT_TRUE(seen.flags.Has("json"));
  EXPECT_EQ(seen.flags.positional(), std::vector<std::string>{"12"});
  EXPECT_EQ(Dispatch(Table(&seen), {"put", "--file", "x"}), kExitFailed);
  EXPECT_EQ(seen.ran, "put");
}

TEST(DispatchTest, AnotherCommandsFlagIsAUsageErrorAndNothingRuns) {
  Seen seen;
  EXPECT_EQ(Dispatch(Table(&seen), {"get", "--file", "x"}), kExitUsage);
  EXPECT_EQ(Dispatch(Table(&seen), {"get", "--force"}), kExitUsage);
  EXPECT_EQ(seen.ran, "");
}

TEST(DispatchTest, ANumberFlagThatIsNoNumberIsAUsageError) {
  Seen seen;
  EXPECT_EQ(Dispatch(Table(&seen), {"get", "--limit", "ten"}), kExitUsage);
  EXPECT_EQ(Dispatch(Table(&seen), {"get", "--limit", "-1"}), kExitUsage);
  EXPECT_EQ(seen.ran, "");
}

TEST(DispatchTest, UnknownMissingAndHelp) {
  Seen seen;
  EXPECT_EQ(Dispatch(Table(&seen), {"nope"}), kExitUsage);
  EXPECT_EQ(Dispatch(Table(&seen), {}), kExitUsage);
  EXPECT_EQ(Dispatch(Table(&seen), {"--help"}), kExitOk);
  EXPECT_EQ(Dispatch(Table(&seen), {"help"}), kExitOk);
  EXPECT_EQ(Dispatch(Table(&seen), {"get", "--help"}), kExitOk);
  EXPECT_EQ(seen.ran, "");
}

// The top level's entries hand the rest of the line on unparsed: flags the
// table does not know are the command's own.
TEST(DispatchTest, APassThroughCommandGetsItsArgumentsAsTheyAre) {
  Seen seen;
  EXPECT_EQ(Dispatch(Table(&seen), {"sub", "query", "--whatever", "--help"}),
            7);
  EXPECT_EQ(seen.ran, "sub");
  EXPECT_EQ(seen.passed,
            (std::vector<std::string>{"query", "--whatever", "--help"}));
}

TEST(HelpOfTest, ListsEveryCommandsUsageAndHelp) {
  Seen seen;
  const std::string help = HelpOf(Table(&seen));
  for (const char* part :
       {"usage: dxctl t SUBCOMMAND", "get SEQ [--limit N]",
        "        one record", "put --file F", "sub ...", "footer"}) {
    EXPECT_NE(help.find(part), std::string::npos) << part;
  }
}

}  // namespace
}  // namespace dx::cli
