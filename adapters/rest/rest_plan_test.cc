// RestPlan without a network: URLs come from the template, values only
// fill their placeholders and parameters, encoded; bad requests and
// configs are refused naming what is wrong.
#include "adapters/rest/rest_plan.h"

#include <gtest/gtest.h>

#include "common/yaml_proto.h"

namespace dx::adapters {
namespace {

v1::RestDataset Dataset() {
  v1::RestDataset ds;
  ds.set_dataset_id("gdt.taxpayers");
  ds.set_url("https://api.gdt.gov.vn/v1/taxpayers/{tax_code}?v=2");
  auto* code = ds.add_query_keys();
  code->set_key("tax_code");
  code->set_required(true);
  auto* status = ds.add_query_keys();
  status->set_key("status");
  status->set_param("trang_thai");
  for (const char* f : {"tax_code", "name"}) ds.add_fields()->set_name(f);
  ds.mutable_fields(1)->set_pointer("/info/ten");
  return ds;
}

RestPlan Plan(const v1::RestDataset& ds = Dataset()) {
  auto plan = RestPlan::Compile(ds);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *std::move(plan);
}

TEST(RestPlanTest, ValuesFillTheTemplateEncoded) {
  v1::AdapterRequest req;
  (*req.mutable_query())["tax_code"] = "0101/../admin?x=1#frag";
  (*req.mutable_query())["status"] = "đang hoạt động&evil=1";
  auto call = Plan().Build(req);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->method, "GET");
  EXPECT_EQ(call->url,
            "https://api.gdt.gov.vn/v1/taxpayers/"
            "0101%2F..%2Fadmin%3Fx%3D1%23frag?v=2&trang_thai="
            "%C4%91ang%20ho%E1%BA%A1t%20%C4%91%E1%BB%99ng%26evil%3D1");
  EXPECT_EQ(OriginOf(call->url), "https://api.gdt.gov.vn");
  EXPECT_EQ(call->pointers,
            (std::vector<std::string>{"/tax_code", "/info/ten"}));
}

TEST(RestPlanTest, DotAndEmptySegmentsAreRefused) {
  // libcurl and services resolve "/v1/taxpayers/.." to "/v1/": these
  // values would leave their segment, so they never reach the URL.
  for (const char* value : {"..", ".", ""}) {
    v1::AdapterRequest req;
    (*req.mutable_query())["tax_code"] = value;
    auto call = Plan().Build(req);
    ASSERT_FALSE(call.ok()) << "'" << value << "' became " << call->url;
    EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(call.status().message().find("tax_code"), std::string::npos);
    EXPECT_NE(call.status().message().find("path segment"), std::string::npos);
  }
  // Dots inside a value stay in their (encoded) segment.
  for (const char* value : {"...", "a..", "%2e%2e", "./."}) {
    v1::AdapterRequest req;
    (*req.mutable_query())["tax_code"] = value;
    auto call = Plan().Build(req);
    ASSERT_TRUE(call.ok()) << value << ": " << call.status();
  }
}

TEST(RestPlanTest, HeaderLinesAreChecked) {
  EXPECT_TRUE(CheckHeaderLine("Authorization", "Bearer abc\tdef").ok());
  for (const char* value :
       {"abc\r\nHost: evil", "abc\nX-Admin: 1", "abc\r", "a\x01b", "a\x7f"}) {
    absl::Status s = CheckHeaderLine("Authorization", value);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_NE(s.message().find("Authorization"), std::string::npos);
  }
  EXPECT_NE(CheckHeaderLine("X", "a\r\nb").message().find("line break"),
            std::string::npos);
  EXPECT_FALSE(CheckHeaderLine("Bad Name", "v").ok());
  EXPECT_FALSE(CheckHeaderLine("Bad:Name", "v").ok());
  EXPECT_FALSE(CheckHeaderLine("", "v").ok());
}

TEST(RestPlanTest, ProjectionAndPost) {
  v1::RestDataset ds = Dataset();
  ds.set_method("POST");
  v1::AdapterRequest req;
  (*req.mutable_query())["tax_code"] = "0101";
  (*req.mutable_query())["status"] = "a\"b";
  req.add_fields("name");
  auto call = Plan(ds).Build(req);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->body, "{\"trang_thai\":\"a\\\"b\"}");
  EXPECT_EQ(call->fields, std::vector<std::string>{"name"});
  EXPECT_EQ(call->pointers, std::vector<std::string>{"/info/ten"});
}

TEST(RestPlanTest, RefusesUnknownAndMissingKeysAndFields) {
  auto refused = [](v1::AdapterRequest req) {
    auto call = Plan().Build(req);
    EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(call.status().message());
  };
  v1::AdapterRequest a;
  EXPECT_NE(refused(a).find("'tax_code' is required"), std::string::npos);
  v1::AdapterRequest b;
  (*b.mutable_query())["tax_code"] = "1";
  (*b.mutable_query())["host"] = "evil.example";
  const std::string m = refused(b);
  EXPECT_NE(m.find("unknown query key 'host'"), std::string::npos) << m;
  EXPECT_NE(m.find("tax_code, status"), std::string::npos) << m;
  v1::AdapterRequest c;
  (*c.mutable_query())["tax_code"] = std::string("1\0", 2);
  EXPECT_NE(refused(c).find("NUL"), std::string::npos);
  v1::AdapterRequest d;
  (*d.mutable_query())["tax_code"] = "1";
  d.add_fields("salary");
  EXPECT_NE(refused(d).find("unknown field 'salary'"), std::string::npos);
}

TEST(RestPlanTest, ConfigErrors) {
  auto error = [](v1::RestDataset ds) {
    auto plan = RestPlan::Compile(ds);
    EXPECT_FALSE(plan.ok());
    return std::string(plan.status().message());
  };
  v1::RestDataset a = Dataset();
  a.set_url("https://{tax_code}.example/x");
  EXPECT_NE(error(a).find("fixed host"), std::string::npos);
  v1::RestDataset b = Dataset();
  b.mutable_query_keys(0)->set_required(false);
  EXPECT_NE(error(b).find("must be required"), std::string::npos);
  v1::RestDataset c = Dataset();
  c.set_url("ftp://files.example/x");
  EXPECT_NE(error(c).find("http or https"), std::string::npos);
  v1::RestDataset d = Dataset();
  d.set_url("https://user@api.example/x");
  EXPECT_NE(error(d).find("fixed host"), std::string::npos);
  v1::RestDataset e = Dataset();
  e.set_url("https://api.example/{nope}");
  EXPECT_NE(error(e).find("{nope}"), std::string::npos);
}

TEST(RestPlanTest, NextLinksStayOnTheOrigin) {
  RestPlan plan = Plan();
  v1::AdapterRequest req;
  (*req.mutable_query())["tax_code"] = "1";
  RestCall call = *plan.Build(req);
  EXPECT_EQ(*plan.NextUrl(call, "/v1/taxpayers/1?page=2"),
            "https://api.gdt.gov.vn/v1/taxpayers/1?page=2");
  EXPECT_EQ(*plan.NextUrl(call, "https://API.gdt.gov.vn/p2"),
            "https://API.gdt.gov.vn/p2");
  EXPECT_FALSE(plan.NextUrl(call, "https://evil.example/p2").ok());
  EXPECT_FALSE(plan.NextUrl(call, "//evil.example/p2").ok());
  EXPECT_FALSE(plan.NextUrl(call, "http://api.gdt.gov.vn/p2").ok());  // scheme
  EXPECT_FALSE(plan.NextUrl(call, "https://api.gdt.gov.vn:444/p2").ok());
  EXPECT_FALSE(plan.NextUrl(call, "https://api.gdt.gov.vn@evil.example/").ok());
}

TEST(RestAdapterConfigTest, DeployExampleLoads) {
  v1::RestAdapterConfig config;
  ASSERT_TRUE(
      LoadYamlFile(std::string(DX_SOURCE_DIR) + "/deploy/rest-adapter.yaml",
                   &config)
          .ok());
  ASSERT_GT(config.datasets_size(), 0);
  for (const auto& ds : config.datasets()) {
    EXPECT_TRUE(RestPlan::Compile(ds).ok()) << ds.dataset_id();
  }
}

}  // namespace
}  // namespace dx::adapters
