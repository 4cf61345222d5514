// In-process tests of the administrative gRPC services, as Trillian tests
// its admin server: each service runs on a real gRPC server on loopback
// with mutual TLS (dev PKI certificates), behind the real CallGate
// (authz/call_gate.h) and the real role table, over real parts (RocksDB in
// a temporary folder, the policy engine). For each service: a caller with
// the right role is answered; one without it gets PERMISSION_DENIED and
// the handler never runs; and the gate hands the refusal to the recorder
// the gateway writes to its audit log.
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "audit/admin.h"
#include "audit/rocksdb_audit_log.h"
#include "audit/state_db.h"
#include "audit/testing/fake_admin_recorder.h"
#include "authz/call_gate.h"
#include "certs/testing/dev_pki.h"
#include "certs/trust_store.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "dx/v1/audit.grpc.pb.h"
#include "dx/v1/cluster.grpc.pb.h"
#include "dx/v1/policy.grpc.pb.h"
#include "dx/v1/registry.grpc.pb.h"
#include "gateway/registry_admin.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/policy_admin.h"
#include "policy/policy_sync.h"
#include "policy/quota_store.h"
#include "policy/rocksdb_policy_store.h"
#include "policy/testing/fixtures.h"
#include "registry/registry_source.h"
#include "services/audit_service.h"
#include "services/node_service.h"
#include "services/policy_admin_service.h"
#include "services/registry_admin_service.h"

namespace dx::services {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The development identities of certs/testing/dev_pki.h (certs/README.md).
constexpr char kAuditor[] = "people/auditor1";
constexpr char kOperator[] = "people/ops1";
constexpr char kPolicyAdmin[] = "people/admin1";
constexpr char kAgency[] = "agencies/000.00.00.H30";

constexpr char kGrantH30[] = R"(
datasets:
  - dataset: pop
    grants:
      - id: civil
        consumers: [000.00.00.H30]
        purposes: [civil-registration]
        fields: [citizen_id, full_name]
        legal_basis: Law on Civil Status
)";

class ServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = testing::DevPkiDir();
    dir_ = testing::MakeTempDir("services");
    certs::TrustStore::Options trust;
    trust.ca_file = pki_ + "/root-ca.pem";
    trust.intermediates_file = pki_ + "/intermediate-ca.pem";
    trust.crl_files = {pki_ + "/crl.pem"};
    auto store = certs::TrustStore::Create(trust);
    ASSERT_TRUE(store.ok()) << store.status();
    trust_ = *std::move(store);

    // The audit log, in RocksDB.
    audit::StateDb::Options db;
    db.path = dir_ + "/state";
    auto opened = audit::StateDb::Open(db);
    ASSERT_TRUE(opened.ok()) << opened.status();
    db_ = *std::move(opened);
    auto log = audit::RocksDbAuditLog::Create(db_.get(), {});
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    // Changes are recorded in the log (unless a test makes that fail);
    // the gate's refusals are kept by the recorder for the tests to read.
    recorder_ = std::make_unique<audit::FakeAdminRecorder>(
        [this, log = log_.get()](const std::string& actor,
                                 const std::string& action,
                                 const std::string& detail) -> absl::Status {
          if (!record_status_.ok()) return record_status_;
          return audit::AppendAndWait(log,
                                      audit::AdminRecord(actor, action, detail))
              .status();
        });
    gate_ = std::make_unique<authz::CallGate>(trust_.get(), recorder_.get());

    // The policy, in RocksDB, compiled against a file registry.
    auto policies = policy::RocksDbPolicyStore::Open(dir_ + "/policy");
    ASSERT_TRUE(policies.ok()) << policies.status();
    policies_ = *std::move(policies);
    auto sync = policy::PolicySync::Start(
        {policies_.get(), &registry_, &quotas_, &clock_}, {});
    ASSERT_TRUE(sync.ok()) << sync.status();
    sync_ = *std::move(sync);
    policy::PolicyAdmin::Deps admin;
    admin.store = policies_.get();
    admin.sync = sync_.get();
    admin.clock = &clock_;
    admin.recorder = recorder_.get();
    auto policy_admin = policy::PolicyAdmin::Create(std::move(admin), "");
    ASSERT_TRUE(policy_admin.ok()) << policy_admin.status();
    policy_admin_ = *std::move(policy_admin);

    gateway::RegistryAdmin::Deps registry;
    registry.source = &registry_;
    registry.sync = sync_.get();
    registry.clock = &clock_;
    registry.recorder = recorder_.get();
    registry_admin_ =
        std::make_unique<gateway::RegistryAdmin>(std::move(registry));

    AuditService::Deps audit;
    audit.db = db_.get();
    audit.log = log_.get();
    audit.gate = gate_.get();
    audit.subject_hmac_key = "subject-key";
    audit.clock = &clock_;
    audit.node_id = "gw1";
    audit_service_ = std::make_unique<AuditService>(std::move(audit));
    policy_service_ =
        std::make_unique<PolicyAdminService>(policy_admin_.get(), gate_.get());
    registry_service_ = std::make_unique<RegistryAdminService>(
        registry_admin_.get(), gate_.get());
    node_service_ = std::make_unique<NodeService>(
        [] {
          v1::NodeStatus s;
          s.set_node_id("gw1");
          return s;
        },
        [this](const std::string& actor, const std::string& out_dir)
            -> absl::StatusOr<v1::BackupManifest> {
          absl::MutexLock lock(&mu_);
          backups_.push_back(actor + " " + out_dir);
          v1::BackupManifest m;
          m.set_node_id("gw1");
          return m;
        },
        gate_.get());

    // The gateway's listener: mutual TLS, the gate as an interceptor.
    grpc::SslServerCredentialsOptions tls(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    tls.pem_root_certs = testing::ReadOrDie(pki_ + "/root-ca.pem");
    tls.pem_key_cert_pairs.push_back(
        {testing::ReadOrDie(pki_ + "/gateway/tls.key"),
         testing::ReadOrDie(pki_ + "/gateway/tls.pem")});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls),
                             &port_);
    builder.RegisterService(audit_service_.get());
    builder.RegisterService(policy_service_.get());
    builder.RegisterService(registry_service_.get());
    builder.RegisterService(node_service_.get());
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(gate_->NewInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // A channel that presents `who`'s TLS certificate (a dev PKI folder).
  std::shared_ptr<grpc::Channel> As(const std::string& who) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = testing::ReadOrDie(pki_ + "/root-ca.pem");
    tls.pem_cert_chain = testing::ReadOrDie(pki_ + "/" + who + "/tls.pem");
    tls.pem_private_key = testing::ReadOrDie(pki_ + "/" + who + "/tls.key");
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_),
                                     grpc::SslCredentials(tls), args);
  }

  std::vector<authz::CallGate::RefusedCall> Refusals() {
    return recorder_->refusals();
  }

  // The one refusal the gate recorded, checked for what every refusal of
  // a known caller without the role says.
  void ExpectOneRefusal(const std::string& actor, const std::string& action,
                        const std::string& method) {
    const auto refusals = Refusals();
    ASSERT_EQ(refusals.size(), 1u);
    const authz::CallGate::RefusedCall& r = refusals.front();
    EXPECT_EQ(r.actor, actor);
    EXPECT_TRUE(r.identity_verified);
    EXPECT_FALSE(r.cert_sha256.empty());
    EXPECT_EQ(r.action, action);
    EXPECT_THAT(r.detail, HasSubstr(method + " refused: PERMISSION_DENIED"));
    EXPECT_EQ(r.code, absl::StatusCode::kPermissionDenied);
  }

  static grpc::ClientContext* Context(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(20));
    return ctx;
  }

  std::string pki_;
  std::string dir_;
  FakeClock clock_{absl::FromUnixSeconds(1764000000)};
  registry::FileRegistrySource registry_{"registry.yaml",
                                         policy::testing::TestRegistry()};
  policy::LocalQuotaStore quotas_;
  std::unique_ptr<certs::TrustStore> trust_;
  absl::Mutex mu_;
  absl::Status record_status_;  // set before any call
  std::unique_ptr<audit::FakeAdminRecorder> recorder_;
  std::vector<std::string> backups_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<authz::CallGate> gate_;
  std::unique_ptr<audit::StateDb> db_;
  std::unique_ptr<audit::RocksDbAuditLog> log_;
  std::unique_ptr<policy::RocksDbPolicyStore> policies_;
  std::unique_ptr<policy::PolicySync> sync_;
  std::unique_ptr<policy::PolicyAdmin> policy_admin_;
  std::unique_ptr<gateway::RegistryAdmin> registry_admin_;
  std::unique_ptr<AuditService> audit_service_;
  std::unique_ptr<PolicyAdminService> policy_service_;
  std::unique_ptr<RegistryAdminService> registry_service_;
  std::unique_ptr<NodeService> node_service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(ServicesTest, AuditRecordsAreForAuditorsAndAnOperatorIsRefused) {
  ASSERT_TRUE(audit::AppendAndWait(
                  log_.get(), audit::AdminRecord("operator:ops1", "test.one",
                                                 "the first record"))
                  .ok());
  v1::GetRecordRequest req;
  req.set_sequence_number(0);

  auto auditor = v1::Audit::NewStub(As(kAuditor));
  grpc::ClientContext ok_ctx;
  v1::StoredRecord rec;
  grpc::Status s = auditor->GetRecord(Context(&ok_ctx), req, &rec);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(rec.record().admin_action(), "test.one");
  EXPECT_THAT(Refusals(), IsEmpty());

  auto ops = v1::Audit::NewStub(As(kOperator));
  grpc::ClientContext refused_ctx;
  v1::StoredRecord none;
  s = ops->GetRecord(Context(&refused_ctx), req, &none);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("auditor"));
  EXPECT_FALSE(none.has_record());
  ExpectOneRefusal("operator:ops1", "audit.refused", "GetRecord");
}

TEST_F(ServicesTest, AnAgencyMayReadTreeHeadsButNotSearchTheLog) {
  ASSERT_TRUE(audit::AppendAndWait(
                  log_.get(), audit::AdminRecord("operator:ops1", "test.one",
                                                 "the first record"))
                  .ok());
  auto agency = v1::Audit::NewStub(As(kAgency));
  grpc::ClientContext head_ctx;
  v1::SignedTreeHead head;
  grpc::Status s =
      agency->GetTreeHead(Context(&head_ctx), v1::GetTreeHeadRequest(), &head);
  // Allowed by the table; what the log answers is the log's (no signer here).
  EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << s.error_message();
  EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(Refusals(), IsEmpty());

  grpc::ClientContext query_ctx;
  auto reader = agency->Query(Context(&query_ctx), v1::AuditQuery());
  v1::AuditQueryResponse msg;
  int read = 0;
  while (reader->Read(&msg)) ++read;
  s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(read, 0);
  ExpectOneRefusal("agency:000.00.00.H30", "audit.refused", "Query");
}

TEST_F(ServicesTest, PolicyChangesAreForPolicyAdministrators) {
  v1::ApplyPolicyRequest apply;
  apply.set_yaml(kGrantH30);
  apply.set_source_name("p.yaml");
  apply.set_comment("test");

  auto auditor = v1::PolicyAdmin::NewStub(As(kAuditor));
  grpc::ClientContext refused_ctx;
  v1::ApplyPolicyResponse refused;
  grpc::Status s = auditor->Apply(Context(&refused_ctx), apply, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("policy-admin"));
  // The handler never ran: nothing was committed.
  EXPECT_EQ(*policies_->Head(), 0u);
  ExpectOneRefusal("auditor:auditor1", "policy.refused", "Apply");

  // Reading is the auditor's too.
  grpc::ClientContext list_ctx;
  v1::ListPoliciesResponse list;
  s = auditor->List(Context(&list_ctx), v1::ListPoliciesRequest(), &list);
  EXPECT_TRUE(s.ok()) << s.error_message();

  auto admin = v1::PolicyAdmin::NewStub(As(kPolicyAdmin));
  grpc::ClientContext ok_ctx;
  v1::ApplyPolicyResponse applied;
  s = admin->Apply(Context(&ok_ctx), apply, &applied);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(applied.revision(), 1u);
  EXPECT_EQ(*policies_->Head(), 1u);
  EXPECT_EQ(Refusals().size(), 1u);
}

TEST_F(ServicesTest, RegistryChangesAreForOperators) {
  auto admin = v1::RegistryAdmin::NewStub(As(kPolicyAdmin));
  grpc::ClientContext get_ctx;
  v1::GetRegistryResponse got;
  grpc::Status s =
      admin->Get(Context(&get_ctx), v1::GetRegistryRequest(), &got);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(got.registry().datasets_size(), 3);
  EXPECT_THAT(got.source(), HasSubstr("file"));
  EXPECT_THAT(Refusals(), IsEmpty());

  v1::ApplyRegistryRequest apply;
  apply.set_yaml(policy::testing::kRegistryYaml);
  grpc::ClientContext refused_ctx;
  v1::ApplyRegistryResponse refused;
  s = admin->Apply(Context(&refused_ctx), apply, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("operator"));
  ExpectOneRefusal("policy-admin:admin1", "registry.refused", "Apply");

  // An operator passes the gate; this node's file registry then refuses
  // the change itself (RegistryAdmin's answer, not the gate's).
  auto ops = v1::RegistryAdmin::NewStub(As(kOperator));
  grpc::ClientContext ops_ctx;
  v1::ApplyRegistryResponse answered;
  s = ops->Apply(Context(&ops_ctx), apply, &answered);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << s.error_message();
  EXPECT_EQ(Refusals().size(), 1u);
}

TEST_F(ServicesTest, BackupsAreForOperatorsAndStatusForReaders) {
  auto auditor = v1::Node::NewStub(As(kAuditor));
  grpc::ClientContext status_ctx;
  v1::NodeStatus status;
  grpc::Status s =
      auditor->Status(Context(&status_ctx), v1::NodeStatusRequest(), &status);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(status.node_id(), "gw1");

  v1::BackupRequest backup;
  backup.set_out_dir("/tmp/backup-here");
  grpc::ClientContext refused_ctx;
  v1::BackupManifest refused;
  s = auditor->Backup(Context(&refused_ctx), backup, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  {
    absl::MutexLock lock(&mu_);
    EXPECT_THAT(backups_, IsEmpty());  // the handler never ran
  }
  ExpectOneRefusal("auditor:auditor1", "audit.refused", "Backup");

  auto ops = v1::Node::NewStub(As(kOperator));
  grpc::ClientContext ok_ctx;
  v1::BackupManifest manifest;
  s = ops->Backup(Context(&ok_ctx), backup, &manifest);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(manifest.node_id(), "gw1");
  absl::MutexLock lock(&mu_);
  EXPECT_THAT(backups_,
              ::testing::ElementsAre("operator:ops1 /tmp/backup-here"));
}

// The refusal stands whatever the recorder does (fail closed): a log that
// cannot record does not open the door.
TEST_F(ServicesTest, ARefusalStandsWhenItsRecordCannotBeWritten) {
  record_status_ = absl::UnavailableError("the audit log is full");
  auto ops = v1::Node::NewStub(As(kPolicyAdmin));
  v1::BackupRequest backup;
  backup.set_out_dir("/tmp/backup-here");
  grpc::ClientContext ctx;
  v1::BackupManifest manifest;
  grpc::Status s = ops->Backup(Context(&ctx), backup, &manifest);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Refusals().size(), 1u);
  absl::MutexLock lock(&mu_);
  EXPECT_THAT(backups_, IsEmpty());
}

}  // namespace
}  // namespace dx::services
