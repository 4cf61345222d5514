// A whole gateway node in-process (GatewayServer with its local backends),
// over real mutual TLS on loopback, with an in-process adapter: the wiring
// of main.cc, tested without a subprocess.
#include "gateway/server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "adapters/sdk/adapter_server.h"
#include "audit/audit_reader.h"
#include "audit/state_db.h"
#include "certs/testing/dev_pki.h"
#include "cli/agency_client.h"
#include "common/data_dir.h"
#include "common/files.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "dx/v1/exchange.grpc.pb.h"
#include "dx/v1/policy.grpc.pb.h"
#include "gateway/config.h"
#include "policy/testing/fixtures.h"
#include "policy/testing/held_policy_store.h"

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

  void StartGateway(GatewayServer::Options options = {}) {
    auto config = LoadGatewayConfig(dir_ + "/gateway.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    auto server =
        GatewayServer::Start(*config, dir_ + "/gateway.yaml", options);
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

  // The gRPC health check (grpc.health.v1) of `service`, as dxctl health
  // asks it: 1 SERVING, 2 NOT_SERVING; -1 when the call fails.
  int Health(const std::string& service) {
    grpc::GenericStub stub(Channel("people/ops1"));
    grpc::ClientContext ctx;
    std::string request = "\x0a";
    request.push_back(static_cast<char>(service.size()));
    request += service;
    grpc::Slice slice(request);
    grpc::ByteBuffer req(&slice, 1), resp;
    absl::Notification done;
    grpc::Status status;
    stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                   &req, &resp, [&](grpc::Status s) {
                     status = std::move(s);
                     done.Notify();
                   });
    done.WaitForNotification();
    if (!status.ok()) return -1;
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (resp.Dump(&slices).ok()) {
      for (const auto& x : slices) {
        bytes.append(reinterpret_cast<const char*>(x.begin()), x.size());
      }
    }
    return bytes.size() >= 2 && bytes[0] == '\x08' ? bytes[1] : 0;
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

// A node of a new cluster that loses the race to seed the policy: another
// node commits revision 1 first, and this node's watch has not delivered
// it yet. It must refuse (UNAVAILABLE, POLICY_NOT_CURRENT, audited) rather
// than decide with revision 0, and health must say NOT_SERVING; once the
// revision is in force, both change at once, with no poller in between.
TEST_F(GatewayServerTest,
       ANodeThatLostTheSeedingRaceServesNothingUntilItHasTheHead) {
  policy::testing::HeldPolicyStore* held = nullptr;
  GatewayServer::Options options;
  options.policy_start_wait = absl::ZeroDuration();  // listen before it has it
  options.make_backends =
      [&held](const v1::GatewayConfig& config, const audit::AuditReader& reader,
              const Clock* clock) -> absl::StatusOr<Backends> {
    auto b = MakeLocalBackends(config, reader, clock);
    if (!b.ok()) return b.status();
    auto store = std::make_unique<policy::testing::HeldPolicyStore>(
        std::move(b->policy_store));
    store->Hold();
    // The other node's policy grants full_name too, so its decisions
    // differ from revision 0's (owners only) and from this node's file.
    store->LoseTheNextCommitTo(policy::testing::Doc(R"(
datasets:
  - dataset: bca.population
    grants:
      - {id: theirs, consumers: [000.00.00.H30], purposes: [civil-registration],
         fields: [citizen_id, full_name], legal_basis: Law on Civil Status}
)"));
    held = store.get();
    b->policy_store = std::move(store);
    return b;
  };
  StartGateway(options);
  ASSERT_NE(held, nullptr);
  // Revision 0 would refuse this (PERMISSION_DENIED); revision 1 serves it.
  grpc::Status early = Call(Request({"full_name"}));
  EXPECT_EQ(early.error_code(), grpc::StatusCode::UNAVAILABLE)
      << early.error_message();
  EXPECT_NE(early.error_message().find("revision 1"), std::string::npos)
      << early.error_message();
  EXPECT_EQ(Health("dx.v1.Exchange"), 2);  // NOT_SERVING
  EXPECT_EQ(Health(""), 2);
  held->Release();
  // In force now: the very next health check and exchange see it.
  EXPECT_EQ(Health("dx.v1.Exchange"), 1);
  grpc::Status served = Call(Request({"full_name"}));
  EXPECT_TRUE(served.ok()) << served.error_message();
}

TEST_F(GatewayServerTest, HealthIsServingWhenAStartedNodeMayServe) {
  StartGateway();
  EXPECT_EQ(Health("dx.v1.Exchange"), 1);
  EXPECT_TRUE(Call(Request({"citizen_id"})).ok());
}

// Hostile: an agency floods the administrative port with calls it has no
// role for. Each is refused; the first 30 of its minute are recorded one
// by one, the rest only counted (one record says the flood began, one
// gives the count), so the audit log does not grow with the flood; and an
// administrator's call still gets through meanwhile. The clock is held
// still so that the flood falls in one budget minute.
TEST_F(GatewayServerTest, AFloodOfRefusedAdminCallsStaysWithinTheBudget) {
  FakeClock clock(absl::Now());
  GatewayServer::Options options;
  options.clock = &clock;
  StartGateway(options);
  constexpr int kFlood = 300;
  std::atomic<int> refused{0};
  std::thread flood([&] {
    auto agency = v1::PolicyAdmin::NewStub(Channel("agencies/000.00.00.H30"));
    for (int i = 0; i < kFlood; ++i) {
      grpc::ClientContext ctx;
      v1::ListPoliciesResponse list;
      if (agency->List(&ctx, v1::ListPoliciesRequest(), &list).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED) {
        ++refused;
      }
    }
  });
  auto admin = v1::PolicyAdmin::NewStub(Channel("people/admin1"));
  int allowed = 0;
  while (refused.load() < kFlood / 2) std::this_thread::yield();
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext ctx;
    v1::ListPoliciesResponse list;
    allowed += admin->List(&ctx, v1::ListPoliciesRequest(), &list).ok();
  }
  flood.join();
  EXPECT_EQ(refused.load(), kFlood);
  EXPECT_EQ(allowed, 5);
  server_->Shutdown();  // records the count, closes the log
  server_.reset();

  audit::StateDb::Options db;
  db.path = DataDir(dir_ + "/data").state();
  db.read_only = true;
  auto state = audit::StateDb::Open(db);
  ASSERT_TRUE(state.ok()) << state.status();
  audit::AuditReader reader(state->get());
  int one_by_one = 0, flood_began = 0;
  uint64_t counted = 0;
  ASSERT_TRUE(
      reader
          .ReadRange(0, 0,
                     [&](v1::StoredRecord&& r) {
                       const v1::AuditRecord& a = r.record();
                       if (a.admin_action() == "policy.refused") {
                         ++one_by_one;
                       }
                       if (a.admin_action() == "authz.flood") {
                         if (absl::StrContains(a.message(), "are counted")) {
                           ++flood_began;
                         }
                         uint64_t n = 0;
                         if (absl::SimpleAtoi(
                                 a.message().substr(0, a.message().find(' ')),
                                 &n)) {
                           counted += n;
                         }
                       }
                       return true;
                     })
          .ok());
  EXPECT_EQ(one_by_one, 30);
  EXPECT_EQ(flood_began, 1);
  EXPECT_EQ(counted, uint64_t{kFlood - 30});
}

}  // namespace
}  // namespace dx::gateway
