// CloudEvents lines of dxctl subscribe: the required attributes, the values
// as an object (nulls, a delete), and text that must be escaped.
#include "cli/cloudevents.h"

#include <gtest/gtest.h>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace dx::cli {
namespace {

google::protobuf::Struct Parsed(const std::string& json) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok())
      << json;
  return s;
}

v1::EventBatch Batch() {
  v1::EventBatch b;
  b.set_subscription_id("abc");
  b.set_gateway_node_id("gw1");
  b.set_dataset_id("test.residents");
  b.set_policy_version("r7");
  b.add_columns("citizen_id");
  b.add_columns("note");
  return b;
}

TEST(CloudEventsTest, AnInsertHasTheRequiredAttributesAndItsValues) {
  v1::EventBatch b = Batch();
  v1::ChangeEvent* e = b.add_events();
  e->set_sequence(4294967301);  // past 32 bits
  e->set_key("079000000001");
  e->set_kind(v1::CHANGE_KIND_INSERT);
  e->mutable_commit_time()->set_seconds(1796625600);  // 2026-12-07T06:40:00Z
  e->mutable_values()->add_values("079000000001");
  e->mutable_values()->add_values("say \"hi\"\nbye");
  const std::string line = CloudEventJson(b, *e);
  EXPECT_EQ(line.find('\n'), std::string::npos) << "one line";
  auto f = Parsed(line).fields();
  EXPECT_EQ(f["specversion"].string_value(), "1.0");
  EXPECT_EQ(f["id"].string_value(), "abc-4294967301");
  EXPECT_EQ(f["source"].string_value(), "urn:dx:gateway:gw1");
  EXPECT_EQ(f["type"].string_value(), "vn.dx.change.insert");
  EXPECT_EQ(f["time"].string_value(), "2026-12-07T06:40:00Z");
  EXPECT_EQ(f["subject"].string_value(), "079000000001");
  EXPECT_EQ(f["datacontenttype"].string_value(), "application/json");
  EXPECT_EQ(f["dxsequence"].string_value(), "4294967301");
  EXPECT_EQ(f["dxdataset"].string_value(), "test.residents");
  EXPECT_EQ(f["dxpolicyversion"].string_value(), "r7");
  auto data = f["data"].struct_value().fields();
  EXPECT_EQ(data["citizen_id"].string_value(), "079000000001");
  EXPECT_EQ(data["note"].string_value(), "say \"hi\"\nbye");
}

TEST(CloudEventsTest, ANullIsNullAndADeleteHasNoValues) {
  v1::EventBatch b = Batch();
  v1::ChangeEvent* e = b.add_events();
  e->set_sequence(1);
  e->set_key("k");
  e->set_kind(v1::CHANGE_KIND_UPDATE);
  e->mutable_values()->add_values("k");
  e->mutable_values()->add_values("");
  e->mutable_values()->add_nulls(1);
  auto f = Parsed(CloudEventJson(b, *e)).fields();
  EXPECT_EQ(f["type"].string_value(), "vn.dx.change.update");
  EXPECT_EQ(f.count("time"), 0u);  // no commit time given: none claimed
  EXPECT_EQ(f["data"].struct_value().fields().at("note").kind_case(),
            google::protobuf::Value::kNullValue);
  v1::ChangeEvent d;
  d.set_sequence(2);
  d.set_key("k");
  d.set_kind(v1::CHANGE_KIND_DELETE);
  auto g = Parsed(CloudEventJson(b, d)).fields();
  EXPECT_EQ(g["type"].string_value(), "vn.dx.change.delete");
  EXPECT_EQ(g["data"].struct_value().fields_size(), 0);
}

}  // namespace
}  // namespace dx::cli
