// A whole gateway node in-process (GatewayServer with its local backends),
// over real mutual TLS on loopback, with an in-process adapter: the wiring
// of main.cc, tested without a subprocess.
#include "gateway/server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "adapters/sdk/adapter_server.h"
#include "cli/agency_client.h"
#include "common/files.h"
#include "dx/v1/exchange.grpc.pb.h"
#include "dx/v1/policy.grpc.pb.h"
#include "gateway/config.h"
#include "tests/testing/dev_pki.h"

namespace dx::gateway {
namespace {

using testing::DevPkiDir;
using testing::ReadOrDie;

std::string Pki(const std::string& path) { return DevPkiDir() + "/" + path; }

class OneRowSource final : public adapters::DataSource {
 public:
  absl::Status Fetch(const v1::AdapterRequest&, const adapters::FetchContext&,
                     const Emit& emit) const override {
    v1::RecordBatch b;
    b.add_columns("citizen_id");
    b.add_columns("full_name");
    v1::Row* r = b.add_rows();
    r->add_values("001000000000");
    r->add_values("Trần Thị B");
    emit(std::move(b));
    return absl::OkStatus();
  }
};

class GatewayServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("gateway-server");
    adapters::AdapterServer::Sources sources;
    sources["bca.population"] = std::make_unique<OneRowSource>();
    adapters::AdapterServer::Options ao;
    ao.cert_chain_pem = ReadOrDie(Pki("adapters/000.00.00.G01/tls.pem"));
    ao.private_key_pem = ReadOrDie(Pki("adapters/000.00.00.G01/tls.key"));
    ao.ca_file = Pki("root-ca.pem");
    ao.intermediates_file = Pki("intermediate-ca.pem");
    ao.crl_files = {Pki("crl.pem")};
    adapter_ = *adapters::AdapterServer::Start(ao, std::move(sources));
    ASSERT_TRUE(
        WriteFileAtomically(
            dir_ + "/registry.yaml",
            absl::StrCat(R"(
agencies:
  - {code: 000.00.00.G01}
  - code: 000.00.00.H30
    systems: [{id: hotich}]
datasets:
  - id: bca.population
    provider_agency: 000.00.00.G01
    category: shared
    adapter: {address: "127.0.0.1:)",
                         adapter_->port(), R"(", tls_server_name: localhost}
    fields: [{name: citizen_id, tags: [personal]}, {name: full_name, tags: [personal]}]
)"))
            .ok());
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/policy.yaml", R"(
datasets:
  - dataset: bca.population
    grants:
      - {id: civil, consumers: [000.00.00.H30], purposes: [civil-registration],
         fields: [citizen_id], legal_basis: Law on Civil Status}
)")
                    .ok());
    ASSERT_TRUE(WriteFileAtomically(
                    dir_ + "/gateway.yaml",
                    absl::StrCat(R"(
node_id: gw1
listen_address: 127.0.0.1:0
data_dir: data
registry_file: registry.yaml
policy_file: policy.yaml
tls: {cert_file: )",
                                 Pki("gateway/tls.pem"),
                                 ", key_file: ", Pki("gateway/tls.key"), R"(}
signing: {cert_file: )",
                                 Pki("gateway/sign.pem"),
                                 ", key_file: ", Pki("gateway/sign.key"), R"(}
trust:
  ca_file: )",
                                 Pki("root-ca.pem"), R"(
  intermediates_file: )",
                                 Pki("intermediate-ca.pem"), R"(
  crl_files: [)",
                                 Pki("crl.pem"), R"(]
)"))
                    .ok());
    agency_signer_ =
        *certs::Signer::FromFiles(Pki("agencies/000.00.00.H30/sign.key"),
                                  Pki("agencies/000.00.00.H30/sign.pem"));
  }

  void StartGateway() {
    auto config = LoadGatewayConfig(dir_ + "/gateway.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    auto server = GatewayServer::Start(*config, dir_ + "/gateway.yaml", {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& cert_dir) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadOrDie(Pki("root-ca.pem"));
    o.pem_cert_chain = ReadOrDie(Pki(cert_dir + "/tls.pem"));
    o.pem_private_key = ReadOrDie(Pki(cert_dir + "/tls.key"));
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::SslCredentials(o),
        args);
  }

  v1::SignedRequest Request(std::vector<std::string> fields) {
    cli::RequestParams p;
    p.consumer_agency = "000.00.00.H30";
    p.consumer_system = "hotich";
    p.dataset_id = "bca.population";
    p.purpose_code = "civil-registration";
    p.fields = std::move(fields);
    return *cli::SignEnvelope(cli::BuildEnvelope(p), *agency_signer_);
  }

  grpc::Status Call(const v1::SignedRequest& request) {
    auto stub = v1::Exchange::NewStub(Channel("agencies/000.00.00.H30"));
    grpc::ClientContext ctx;
    v1::SignedResponse response;
    return stub->Call(&ctx, request, &response);
  }

  std::string dir_;
  std::unique_ptr<adapters::AdapterServer> adapter_;
  std::unique_ptr<certs::Signer> agency_signer_;
  std::unique_ptr<GatewayServer> server_;
};

TEST_F(GatewayServerTest,
       ServesDecidesByItsPolicyAndRefusesReplaysAfterARestart) {
  StartGateway();
  v1::SignedRequest allowed = Request({"citizen_id"});
  EXPECT_TRUE(Call(allowed).ok());
  EXPECT_EQ(Call(Request({"full_name"})).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  server_->Shutdown();
  server_.reset();
  // A new process on the same data dir: the replay guard is rebuilt from
  // the audit log, and the policy comes from the store (revision 1).
  StartGateway();
  grpc::Status again = Call(allowed);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << again.error_message();
  EXPECT_TRUE(Call(Request({"citizen_id"})).ok());
}

TEST_F(GatewayServerTest,
       APolicyAppliedThroughTheAdminServiceDecidesTheNextCall) {
  StartGateway();
  EXPECT_EQ(Call(Request({"full_name"})).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto admin = v1::PolicyAdmin::NewStub(Channel("people/admin1"));
  v1::ApplyPolicyRequest apply;
  apply.set_yaml(R"(
datasets:
  - dataset: bca.population
    grants:
      - {id: civil, consumers: [000.00.00.H30], purposes: [civil-registration],
         fields: [citizen_id, full_name], legal_basis: Law on Civil Status}
)");
  apply.set_comment("wider");
  grpc::ClientContext ctx;
  v1::ApplyPolicyResponse out;
  grpc::Status s = admin->Apply(&ctx, apply, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.revision(), 2u);
  EXPECT_TRUE(Call(Request({"full_name"})).ok());
  // An auditor may read the policy but not change it, and an agency may not
  // even read it: refused by the gate, before any handler.
  auto auditor = v1::PolicyAdmin::NewStub(Channel("people/auditor1"));
  grpc::ClientContext c2;
  s = auditor->Apply(&c2, apply, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  grpc::ClientContext c3;
  v1::ListPoliciesResponse list;
  EXPECT_TRUE(auditor->List(&c3, v1::ListPoliciesRequest(), &list).ok());
  auto agency = v1::PolicyAdmin::NewStub(Channel("agencies/000.00.00.H30"));
  grpc::ClientContext c4;
  EXPECT_EQ(agency->List(&c4, v1::ListPoliciesRequest(), &list).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace dx::gateway
