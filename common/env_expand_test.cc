#include "common/env_expand.h"

#include <gtest/gtest.h>

#include <map>

namespace dx {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ExpandEnvironmentTest, ReplacesVariablesAndKeepsTheRest) {
  auto out = ExpandEnvironment(
      "node_id: ${POD_NAME}\ndata_dir: /var/lib/${POD_NAME}/x\ncost: $5\n",
      "c.yaml", Env({{"POD_NAME", "dxgate-1"}}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out,
            "node_id: dxgate-1\ndata_dir: /var/lib/dxgate-1/x\ncost: $5\n");
}

TEST(ExpandEnvironmentTest, CommentsAreLeftAsTheyAre) {
  auto out =
      ExpandEnvironment("# uses ${UNSET}\na: ${A} # not ${B}\nb: x#${A}\n",
                        "c.yaml", Env({{"A", "1"}}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "# uses ${UNSET}\na: 1 # not ${B}\nb: x#1\n");
}

TEST(ExpandEnvironmentTest, ADoubledDollarIsALiteral) {
  auto out = ExpandEnvironment("a: $${HOME}\n", "c.yaml", Env({}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "a: ${HOME}\n");
}

TEST(ExpandEnvironmentTest, AnUnsetVariableIsAnErrorNamingItAndTheLine) {
  auto out = ExpandEnvironment("a: 1\nnode_id: ${NODE}\n", "c.yaml", Env({}));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("c.yaml:2: ${NODE} is not set"),
            std::string::npos)
      << out.status();
}

TEST(ExpandEnvironmentTest, AMalformedReferenceIsAnError) {
  for (const char* bad :
       {"a: ${}\n", "a: ${1X}\n", "a: ${NO END\n", "a: ${A-B}\n"}) {
    auto out = ExpandEnvironment(bad, "c.yaml", Env({{"A", "1"}}));
    EXPECT_FALSE(out.ok()) << bad;
    if (!out.ok()) {
      EXPECT_NE(out.status().message().find("c.yaml:1:"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace dx
