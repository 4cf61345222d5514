#include "common/yaml_proto.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "dx/v1/config.pb.h"
#include "dx/v1/exchange.pb.h"
#include "dx/v1/registry.pb.h"

namespace dx {
namespace {

TEST(YamlProtoTest, ReadsNestedMessagesListsEnumsAndNumbers) {
  v1::Registry r;
  absl::Status s = YamlToProto(R"(
agencies:
  - code: 000.00.00.G01
    systems: [{id: a}, {id: b}]
datasets:
  - id: ds
    category: shared
    adapter: {address: "127.0.0.1:1", timeout_ms: 250}
    fields:
      - {name: f, tags: [personal, core]}
)",
                               "reg.yaml", &r);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(r.agencies_size(), 1);
  EXPECT_EQ(r.agencies(0).systems(1).id(), "b");
  EXPECT_EQ(r.datasets(0).category(), v1::DATA_CATEGORY_SHARED);
  EXPECT_EQ(r.datasets(0).adapter().timeout_ms(), 250u);
  EXPECT_EQ(r.datasets(0).fields(0).tags(1), "core");
}

TEST(YamlProtoTest, AcceptsFullEnumNamesAndMaps) {
  v1::RequestEnvelope env;
  ASSERT_TRUE(YamlToProto("operation: OPERATION_READ\nquery: {a: '1', b: x}\n",
                          "e.yaml", &env)
                  .ok());
  EXPECT_EQ(env.operation(), v1::OPERATION_READ);
  EXPECT_EQ(env.query().at("a"), "1");
}

TEST(YamlProtoTest, OptionalBoolKeepsPresence) {
  v1::GatewayConfig c;
  ASSERT_TRUE(YamlToProto("audit: {sync: false}\n", "g.yaml", &c).ok());
  EXPECT_TRUE(c.audit().has_sync());
  EXPECT_FALSE(c.audit().sync());
}

TEST(YamlProtoTest, UnknownFieldNamesFileLineAndField) {
  v1::Registry r;
  absl::Status s =
      YamlToProto("agencies:\n  - code: X\n    nmae: typo\n", "reg.yaml", &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("reg.yaml:3"), std::string::npos) << s;
  EXPECT_NE(s.message().find("agencies[0].nmae"), std::string::npos) << s;
  EXPECT_NE(s.message().find("known fields"), std::string::npos) << s;
}

TEST(YamlProtoTest, TextThatIsNotUtf8IsRefusedWithItsLine) {
  v1::Registry r;
  // Latin-1 "Hà Nội" as a legacy editor would save it.
  absl::Status s = YamlToProto(
      "agencies:\n  - code: X\n    name: \"H\xe0 N\xf4i\"\n", "reg.yaml", &r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("reg.yaml:3"), std::string::npos) << s;
  EXPECT_NE(s.message().find("agencies[0].name"), std::string::npos) << s;
  EXPECT_NE(s.message().find("not UTF-8"), std::string::npos) << s;
  // The same in UTF-8 is read.
  EXPECT_TRUE(YamlToProto("agencies:\n  - code: X\n    name: \"H\xc3\xa0 "
                          "N\xe1\xbb\x99i\"\n",
                          "reg.yaml", &r)
                  .ok());
  EXPECT_EQ(r.agencies(0).name(), "H\xc3\xa0 N\xe1\xbb\x99i");
}

TEST(YamlProtoTest, WrongTypeNamesTheField) {
  v1::GatewayConfig c;
  absl::Status s =
      YamlToProto("node_id: gw\nclock_skew_seconds: soon\n", "g.yaml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("g.yaml:2"), std::string::npos) << s;
  EXPECT_NE(s.message().find("clock_skew_seconds"), std::string::npos) << s;
}

TEST(YamlProtoTest, BadEnumListsChoices) {
  v1::Dataset d;
  absl::Status s = YamlToProto("category: secret\n", "d.yaml", &d);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("open, shared, private"), std::string::npos) << s;
}

TEST(YamlProtoTest, ScalarWhereListExpected) {
  v1::Dataset d;
  absl::Status s = YamlToProto("fields: f\n", "d.yaml", &d);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("expects a list"), std::string::npos) << s;
}

TEST(YamlProtoTest, SyntaxErrorNamesLine) {
  v1::Dataset d;
  absl::Status s = YamlToProto("id: a\nfields: [\n", "d.yaml", &d);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("d.yaml:"), std::string::npos) << s;
  EXPECT_NE(s.message().find("syntax"), std::string::npos) << s;
}

// The shipped examples must stay loadable.
TEST(YamlProtoTest, DeployExamplesParse) {
  const char* src = std::getenv("DX_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  v1::Registry r;
  absl::Status s = LoadYamlFile(std::string(src) + "/deploy/registry.yaml", &r);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_GE(r.datasets_size(), 2);
  v1::GatewayConfig g;
  s = LoadYamlFile(std::string(src) + "/deploy/dxgate.yaml", &g);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(g.node_id(), "gw1");
  v1::FileAdapterConfig a;
  s = LoadYamlFile(std::string(src) + "/deploy/file-adapter.yaml", &a);
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace dx
