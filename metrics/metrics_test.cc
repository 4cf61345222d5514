#include "metrics/metrics.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "dx/v1/cluster.grpc.pb.h"
#include "metrics/grpc_server_metrics.h"
#include "metrics/http_endpoint.h"
#include "prometheus/counter.h"

namespace dx::metrics {
namespace {

TEST(MetricsTest, ExpositionHoldsRegisteredAndScrapedFamilies) {
  Metrics m;
  prometheus::BuildCounter()
      .Name("dx_test_things_total")
      .Help("Things.")
      .Register(m.registry())
      .Add({{"kind", "a"}})
      .Increment(3);
  int scrapes = 0;
  m.AddScrape([&scrapes] {
    ++scrapes;
    ScrapedFamily f;
    f.name = "dx_test_level";
    f.help = "A level read when scraped.";
    f.samples.push_back({{{"what", "x"}}, 42.5});
    return std::vector<ScrapedFamily>{f};
  });
  const std::string text = m.Exposition();
  EXPECT_TRUE(absl::StrContains(text, "# TYPE dx_test_things_total counter"));
  EXPECT_TRUE(absl::StrContains(text, "dx_test_things_total{kind=\"a\"} 3"));
  EXPECT_TRUE(absl::StrContains(text, "# TYPE dx_test_level gauge"));
  EXPECT_TRUE(absl::StrContains(text, "dx_test_level{what=\"x\"} 42.5"));
  EXPECT_EQ(scrapes, 1);
  m.Exposition();
  EXPECT_EQ(scrapes, 2);  // computed again on every scrape
}

TEST(HttpEndpointTest, ServesMetricsAndHealth) {
  absl::Mutex mu;  // the handler runs on the server's threads
  absl::Status health = absl::OkStatus();
  auto e = HttpEndpoint::Start({"127.0.0.1:0",
                                [] { return std::string("dx_up 1\n"); },
                                [&] {
                                  absl::MutexLock lock(&mu);
                                  return health;
                                }});
  ASSERT_TRUE(e.ok()) << e.status();
  httplib::Client client("127.0.0.1", (*e)->port());
  auto r = client.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "dx_up 1\n");
  EXPECT_TRUE(absl::StartsWith(r->get_header_value("Content-Type"),
                               "text/plain; version=0.0.4"));
  r = client.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  {
    absl::MutexLock lock(&mu);
    health = absl::UnavailableError("the audit log cannot record");
  }
  r = client.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "NOT_SERVING: the audit log cannot record\n");
  r = client.Get("/anything-else");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  auto post = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_NE(post->status, 200);
}

// What the port refuses shows in /metrics, by server and reason: a
// flood of a port is seen as a counter, not only as log lines.
TEST(HttpEndpointTest, ItsRefusalsAreCountedInTheMetrics) {
  Metrics m;
  auto e = HttpEndpoint::Start(
      {"127.0.0.1:0", [&m] { return m.Exposition(); }, nullptr});
  ASSERT_TRUE(e.ok()) << e.status();
  httplib::Client client("127.0.0.1", (*e)->port());
  const std::string sample =
      "dx_http_refused_total{server=\"metrics\",reason=\"too_large\"} ";
  auto before = client.Get("/metrics");
  ASSERT_TRUE(before);
  EXPECT_TRUE(absl::StrContains(before->body, sample + "0")) << before->body;
  // Over the port's 8 KiB of headers: 431, counted.
  httplib::Headers big = {{"X-Pad", std::string(10000, 'a')}};
  auto refused = client.Get("/metrics", big);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 431);
  auto after = client.Get("/metrics");
  ASSERT_TRUE(after);
  EXPECT_TRUE(absl::StrContains(after->body, sample + "1")) << after->body;
  EXPECT_TRUE(absl::StrContains(
      after->body,
      "dx_http_refused_total{server=\"metrics\",reason=\"connection_limit\"} "
      "0"));
}

TEST(HttpEndpointTest, RefusesABadAddressAndAPortInUse) {
  EXPECT_EQ(HttpEndpoint::Start({"no-port", nullptr, nullptr}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = HttpEndpoint::Start({"127.0.0.1:0", nullptr, nullptr});
  ASSERT_TRUE(first.ok());
  auto second = HttpEndpoint::Start(
      {"127.0.0.1:" + std::to_string((*first)->port()), nullptr, nullptr});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

grpc::Status CallGeneric(grpc::GenericStub* stub, const std::string& path) {
  grpc::ClientContext ctx;
  const std::string empty;
  grpc::Slice slice(empty);
  grpc::ByteBuffer req(&slice, 1), resp;
  absl::Notification done;
  grpc::Status status;
  stub->UnaryCall(&ctx, path, grpc::StubOptions(), &req, &resp,
                  [&](grpc::Status s) {
                    status = std::move(s);
                    done.Notify();
                  });
  done.WaitForNotification();
  return status;
}

TEST(GrpcServerMetricsTest, CountsCallsByMethodAndCodeAndBoundsUnknownPaths) {
  Metrics m;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  v1::Node::CallbackService node;  // every method UNIMPLEMENTED
  builder.RegisterService(&node);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(NewGrpcServerMetrics(&m.registry(), {"dx.v1.Node"}));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  ASSERT_TRUE(CallGeneric(&stub, "/grpc.health.v1.Health/Check").ok());
  ASSERT_TRUE(CallGeneric(&stub, "/grpc.health.v1.Health/Check").ok());
  EXPECT_EQ(CallGeneric(&stub, "/dx.v1.Node/Status").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(CallGeneric(&stub, "/evil.Made/Up").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(CallGeneric(&stub, "/evil.Made/Other").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  server->Shutdown();
  const std::string text = m.Exposition();
  const std::string health =
      "grpc_method=\"Check\",grpc_service=\"grpc.health.v1.Health\","
      "grpc_type=\"unary\"";
  EXPECT_TRUE(
      absl::StrContains(text, "grpc_server_started_total{" + health + "} 2"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "grpc_server_handled_total{grpc_code=\"OK\"," + health + "} 2"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "grpc_server_handling_seconds_count{" + health + "} 2"))
      << text;
  EXPECT_TRUE(
      absl::StrContains(text,
                        "grpc_server_handled_total{grpc_code=\"Unimplemented\","
                        "grpc_method=\"Status\",grpc_service=\"dx.v1.Node\","
                        "grpc_type=\"unary\"} 1"))
      << text;
  // Made-up paths share one series: no caller can add labels.
  EXPECT_FALSE(absl::StrContains(text, "evil")) << text;
}

}  // namespace
}  // namespace dx::metrics
