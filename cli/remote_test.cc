// The remote-call helper's pure parts: who dxctl is (never a default), and
// gRPC's status as absl's.
#include "cli/remote.h"

#include <grpcpp/grpcpp.h>

#include "gtest/gtest.h"

namespace dx::cli {
namespace {

Flags Parse(const std::vector<std::string>& args) {
  return *Flags::Parse(args, {"pki", "person", "agency", "ca", "cert", "key"},
                       {});
}

TEST(TlsIdentityTest, NoIdentityNamesTheFlagAndTheVariable) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--pki", "/p"}, {}, {"--ca", "c"}, {"--cert", "c", "--ca", "r"}}) {
    auto id = TlsIdentityFromFlags(Parse(args), "");
    ASSERT_TRUE(absl::IsInvalidArgument(id.status()));
    const std::string m(id.status().message());
    EXPECT_NE(m.find("--person NAME"), std::string::npos) << m;
    EXPECT_NE(m.find("DXCTL_PERSON"), std::string::npos) << m;
    EXPECT_NE(m.find("--cert"), std::string::npos) << m;
  }
}

TEST(TlsIdentityTest, APersonOfThePki) {
  auto id =
      TlsIdentityFromFlags(Parse({"--pki", "/p", "--person", "ann"}), "bob");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->ca, "/p/root-ca.pem");
  EXPECT_EQ(id->cert, "/p/people/ann/tls.pem");
  EXPECT_EQ(id->key, "/p/people/ann/tls.key");
}

TEST(TlsIdentityTest, TheEnvironmentNamesThePersonWhenTheFlagDoesNot) {
  auto id = TlsIdentityFromFlags(Parse({"--pki", "/p"}), "bob");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->cert, "/p/people/bob/tls.pem");
}

TEST(TlsIdentityTest, AnAgencyAndExplicitFiles) {
  auto agency =
      TlsIdentityFromFlags(Parse({"--pki", "/p", "--agency", "TAX"}), "bob");
  ASSERT_TRUE(agency.ok());
  EXPECT_EQ(agency->cert, "/p/agencies/TAX/tls.pem");
  auto files = TlsIdentityFromFlags(
      Parse({"--ca", "r.pem", "--cert", "c.pem", "--key", "k.pem"}), "");
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->ca, "r.pem");
  EXPECT_EQ(files->cert, "c.pem");
  EXPECT_EQ(files->key, "k.pem");
  // Explicit files win over the PKI's.
  auto mixed = TlsIdentityFromFlags(
      Parse({"--pki", "/p", "--person", "ann", "--key", "k.pem"}), "");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(mixed->key, "k.pem");
  EXPECT_EQ(mixed->cert, "/p/people/ann/tls.pem");
  // No CA at all.
  EXPECT_TRUE(absl::IsInvalidArgument(
      TlsIdentityFromFlags(Parse({"--cert", "c", "--key", "k"}), "").status()));
}

TEST(FromGrpcTest, KeepsCodeAndMessage) {
  EXPECT_TRUE(FromGrpc(grpc::Status::OK).ok());
  for (auto code :
       {grpc::StatusCode::PERMISSION_DENIED, grpc::StatusCode::INVALID_ARGUMENT,
        grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED,
        grpc::StatusCode::UNAUTHENTICATED}) {
    const absl::Status s = FromGrpc(grpc::Status(code, "why"));
    EXPECT_EQ(static_cast<int>(s.code()), static_cast<int>(code));
    EXPECT_EQ(s.message(), "why");
  }
}

TEST(RemoteNodeTest, EveryContextHasADeadline) {
  auto ctx = RemoteNode::NewContext(absl::Seconds(5));
  const auto left = ctx->deadline() - std::chrono::system_clock::now();
  EXPECT_GT(left, std::chrono::seconds(0));
  EXPECT_LE(left, std::chrono::seconds(5));
}

TEST(RemoteNodeTest, MissingFilesAreAnErrorNotAChannel) {
  auto node = RemoteNode::Connect(
      {"/nonexistent/ca.pem", "/nonexistent/c", "/nonexistent/k"},
      "127.0.0.1:1");
  EXPECT_FALSE(node.ok());
  EXPECT_NE(node.status().message().find("/nonexistent/ca.pem"),
            std::string::npos)
      << node.status();
}

}  // namespace
}  // namespace dx::cli
