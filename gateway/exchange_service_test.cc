// The exchange pipeline in-process: a real ExchangeService on loopback
// mutual TLS (dev PKI made at test time), a real adapter (the SDK's server
// with a scripted DataSource), the real RequestChecker and signer, and
// fakes of the seams the cluster implements again: the replay store, the
// authorizer and the audit log. Each can answer at once or later, succeed
// or fail, so that every path of the pipeline is exercised here, not only
// end to end.
#include "gateway/exchange_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "adapters/sdk/adapter_server.h"
#include "certs/testing/dev_pki.h"
#include "cli/agency_client.h"
#include "common/executor.h"
#include "common/testing/temp_dir.h"
#include "dx/v1/exchange.grpc.pb.h"
#include "gateway/internal/admission.h"
#include "gateway/internal/closing.h"
#include "registry/registry.h"

namespace dx::gateway {
namespace {

using testing::DevPkiDir;
using testing::ReadOrDie;

std::string Pki(const std::string& path) { return DevPkiDir() + "/" + path; }

// ------------------------------------------------------------ the fakes --

// Answers now, or holds every check until Release().
class FakeReplayStore final : public replay::ReplayStore {
 public:
  void CheckAndRemember(const replay::ReplayKey& key, Cancellation*,
                        Callback done) override {
    absl::StatusOr<bool> verdict;
    {
      absl::MutexLock lock(&mu_);
      ++checks_;
      last_ = key;
      if (hold_) {
        held_.push_back(std::move(done));
        return;
      }
      verdict = verdict_;
    }
    done(verdict);
  }
  size_t size() const override { return 0; }

  void Answer(absl::StatusOr<bool> verdict) {
    absl::MutexLock lock(&mu_);
    verdict_ = std::move(verdict);
  }
  void Hold() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  // Answers the held checks with `verdict`, from another thread.
  void Release(absl::StatusOr<bool> verdict) {
    std::vector<Callback> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
      hold_ = false;
    }
    std::thread([held = std::move(held), verdict] {
      for (const Callback& done : held) done(verdict);
    }).join();
  }
  bool WaitHeld(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return held_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  int checks() {
    absl::MutexLock lock(&mu_);
    return checks_;
  }
  replay::ReplayKey last() {
    absl::MutexLock lock(&mu_);
    return last_;
  }

 private:
  absl::Mutex mu_;
  absl::StatusOr<bool> verdict_ ABSL_GUARDED_BY(mu_) = true;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Callback> held_ ABSL_GUARDED_BY(mu_);
  int checks_ ABSL_GUARDED_BY(mu_) = 0;
  replay::ReplayKey last_ ABSL_GUARDED_BY(mu_);
};

// Returns a scripted decision about a real registry's dataset; can hold
// decisions until Release().
class FakeAuthorizer final : public policy::Authorizer {
 public:
  explicit FakeAuthorizer(std::shared_ptr<const registry::Registry> r)
      : registry_(std::move(r)) {}
  void Decide(const policy::AccessRequest& request, Cancellation* cancel,
              Callback done) const override {
    policy::AccessDecision d;
    {
      absl::MutexLock lock(&mu_);
      // The call's cancellation outlives the decision: the test waits on
      // it to know that the gateway saw the consumer leave.
      if (cancelled_ != nullptr) {
        cancel->OnCancel([n = cancelled_] { n->Notify(); });
      }
      ++asked_;
      last_ = request;
      d = decision_;
      if (hold_) {
        held_.push_back(std::move(done));
        return;
      }
    }
    d.registry = registry_;
    d.dataset = registry_->FindDataset(request.dataset_id);
    done(std::move(d));
  }

  void Allow(std::vector<std::string> fields) {
    absl::MutexLock lock(&mu_);
    decision_ = policy::AccessDecision();
    decision_.allowed = true;
    decision_.fields = fields;
    decision_.adapter_fields = fields;
    decision_.rule_id = "grant-1";
    decision_.policy_version = "r7";
  }
  void Deny(std::string legal_basis) {
    absl::MutexLock lock(&mu_);
    decision_ = policy::AccessDecision();
    decision_.rule_id = "forbid-1";
    decision_.policy_version = "r7";
    decision_.reason = v1::REASON_POLICY_FORBIDDEN;
    decision_.message = "forbid rule forbid-1 refuses it";
    decision_.legal_basis = std::move(legal_basis);
  }
  // `n` is notified when the next call decided is cancelled.
  void NotifyCancelled(absl::Notification* n) {
    absl::MutexLock lock(&mu_);
    cancelled_ = n;
  }
  void WithCharge(std::shared_ptr<policy::QuotaCharge> charge) {
    absl::MutexLock lock(&mu_);
    decision_.max_records = charge->taken();
    decision_.records_charge = std::move(charge);
  }
  void Hold() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  bool WaitHeld(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return held_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  void Release() {
    std::vector<Callback> held;
    policy::AccessDecision d;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
      hold_ = false;
      d = decision_;
      d.dataset = registry_->FindDataset(last_.dataset_id);
    }
    d.registry = registry_;
    for (const Callback& done : held) done(d);
  }
  int asked() const {
    absl::MutexLock lock(&mu_);
    return asked_;
  }
  policy::AccessRequest last() const {
    absl::MutexLock lock(&mu_);
    return last_;
  }

 private:
  const std::shared_ptr<const registry::Registry> registry_;
  mutable absl::Mutex mu_;
  policy::AccessDecision decision_ ABSL_GUARDED_BY(mu_);
  mutable bool hold_ ABSL_GUARDED_BY(mu_) = false;
  mutable std::vector<Callback> held_ ABSL_GUARDED_BY(mu_);
  mutable int asked_ ABSL_GUARDED_BY(mu_) = 0;
  mutable policy::AccessRequest last_ ABSL_GUARDED_BY(mu_);
  absl::Notification* cancelled_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// Keeps records in memory; completes on another thread, or fails; can
// hold the completion of records of one kind until Release().
class FakeAuditLog final : public audit::AuditLog {
 public:
  void Append(v1::AuditRecord record, Callback done) override {
    absl::StatusOr<audit::AppendResult> result;
    {
      absl::MutexLock lock(&mu_);
      if (!fail_.ok()) {
        result = fail_;
      } else {
        record.set_sequence_number(records_.size());
        audit::AppendResult r;
        r.sequence_number = records_.size();
        r.record_hash = audit::LeafHash(record.SerializeAsString());
        const bool hold = record.kind() == hold_kind_;
        records_.push_back(std::move(record));
        result = r;
        if (hold) {
          held_.push_back([done = std::move(done), result] { done(result); });
          return;
        }
      }
    }
    executor_.Run([done = std::move(done), result] { done(result); });
  }
  absl::Status Health() const override { return absl::OkStatus(); }

  void HoldKind(v1::RecordKind kind) {
    absl::MutexLock lock(&mu_);
    hold_kind_ = kind;
  }
  bool WaitHeld(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return held_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  void Release() {
    std::vector<std::function<void()>> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
      hold_kind_ = v1::RECORD_KIND_UNSPECIFIED;
    }
    for (auto& f : held) executor_.Run(std::move(f));
  }
  // Waits until `n` records were appended.
  bool WaitRecords(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return records_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }

  void Fail(absl::Status s) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(s);
  }
  std::vector<v1::AuditRecord> records() {
    absl::MutexLock lock(&mu_);
    return records_;
  }

 private:
  absl::Mutex mu_;
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::AuditRecord> records_ ABSL_GUARDED_BY(mu_);
  v1::RecordKind hold_kind_ ABSL_GUARDED_BY(mu_) = v1::RECORD_KIND_UNSPECIFIED;
  std::vector<std::function<void()>> held_ ABSL_GUARDED_BY(mu_);
  ThreadPoolExecutor executor_{1};
};

// The provider's data: `rows` rows of (citizen_id, full_name, salary).
class ScriptedSource final : public adapters::DataSource {
 public:
  absl::Status Fetch(const v1::AdapterRequest& request,
                     const adapters::FetchContext&,
                     const Emit& emit) const override {
    ++calls_;
    if (!fail_.ok()) return fail_;
    v1::RecordBatch batch;
    for (const char* c : {"citizen_id", "full_name", "salary"})
      batch.add_columns(c);
    const uint32_t per_batch =
        request.batch_rows() == 0 ? rows_ : request.batch_rows();
    for (int i = 0; i < rows_; ++i) {
      v1::Row* r = batch.add_rows();
      r->add_values(absl::StrCat("00100000000", i));
      r->add_values(absl::StrCat("Nguyễn Văn ", i));
      r->add_values("secret");
      if (static_cast<uint32_t>(batch.rows_size()) == per_batch ||
          i + 1 == rows_) {
        if (!emit(std::move(batch))) return absl::OkStatus();
        batch = v1::RecordBatch();
        for (const char* c : {"citizen_id", "full_name", "salary"})
          batch.add_columns(c);
      }
    }
    return absl::OkStatus();
  }
  mutable std::atomic<int> calls_{0};
  int rows_ = 3;
  absl::Status fail_;
};

constexpr char kRegistry[] = R"(
agencies:
  - {code: 000.00.00.G01}
  - code: 000.00.00.H30
    systems: [{id: hotich}]
datasets:
  - id: bca.population
    provider_agency: 000.00.00.G01
    adapter: {address: "127.0.0.1:ADAPTER_PORT", tls_server_name: localhost}
    fields: [{name: citizen_id}, {name: full_name}, {name: salary}]
)";

// ---------------------------------------------------------- the fixture --

class ExchangeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DevPkiDir();
    auto source = std::make_unique<ScriptedSource>();
    source_ = source.get();
    adapters::AdapterServer::Sources sources;
    sources["bca.population"] = std::move(source);
    adapters::AdapterServer::Options ao;
    ao.cert_chain_pem = ReadOrDie(Pki("adapters/000.00.00.G01/tls.pem"));
    ao.private_key_pem = ReadOrDie(Pki("adapters/000.00.00.G01/tls.key"));
    ao.ca_file = Pki("root-ca.pem");
    ao.intermediates_file = Pki("intermediate-ca.pem");
    ao.crl_files = {Pki("crl.pem")};
    auto adapter = adapters::AdapterServer::Start(ao, std::move(sources));
    ASSERT_TRUE(adapter.ok()) << adapter.status();
    adapter_ = *std::move(adapter);

    std::string yaml = kRegistry;
    yaml.replace(yaml.find("ADAPTER_PORT"), 12,
                 std::to_string(adapter_->port()));
    auto reg = registry::Registry::FromYaml(yaml, "registry.yaml");
    ASSERT_TRUE(reg.ok()) << reg.status();
    authorizer_ = std::make_unique<FakeAuthorizer>(*reg);
    authorizer_->Allow({"citizen_id", "full_name"});

    certs::TrustStore::Options to;
    to.ca_file = Pki("root-ca.pem");
    to.intermediates_file = Pki("intermediate-ca.pem");
    to.crl_files = {Pki("crl.pem")};
    trust_ = *certs::TrustStore::Create(to);
    checker_ = std::make_unique<RequestChecker>(
        RequestChecker::Options{}, trust_.get(), SystemClock::Get());
    signer_ = *certs::Signer::FromFiles(Pki("gateway/sign.key"),
                                        Pki("gateway/sign.pem"));
    pool_ = std::make_unique<AdapterPool>(AdapterPool::Options{
        ReadOrDie(Pki("root-ca.pem")), ReadOrDie(Pki("gateway/tls.pem")),
        ReadOrDie(Pki("gateway/tls.key"))});
    agency_signer_ =
        *certs::Signer::FromFiles(Pki("agencies/000.00.00.H30/sign.key"),
                                  Pki("agencies/000.00.00.H30/sign.pem"));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    if (adapter_) adapter_->Shutdown(0);
  }

  // Starts the service with the fixture's fakes; `edit` may change deps.
  void StartService(std::function<void(ExchangeDeps*)> edit = nullptr) {
    ExchangeDeps deps;
    deps.checker = checker_.get();
    deps.replay = &replay_;
    deps.authorizer = authorizer_.get();
    deps.audit = &audit_;
    deps.signer = signer_.get();
    deps.adapters = pool_.get();
    deps.clock = SystemClock::Get();
    deps.node_id = "gw1";
    deps.subject_hmac_key = std::string(32, 'k');
    if (edit) edit(&deps);
    service_ = std::make_unique<ExchangeService>(std::move(deps));
    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = ReadOrDie(Pki("root-ca.pem"));
    ssl.pem_key_cert_pairs.push_back(
        {ReadOrDie(Pki("gateway/tls.key")), ReadOrDie(Pki("gateway/tls.pem"))});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    grpc::SslCredentialsOptions client;
    client.pem_root_certs = ReadOrDie(Pki("root-ca.pem"));
    client.pem_cert_chain = ReadOrDie(Pki("agencies/000.00.00.H30/tls.pem"));
    client.pem_private_key = ReadOrDie(Pki("agencies/000.00.00.H30/tls.key"));
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    stub_ = v1::Exchange::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(client), args));
  }

  v1::SignedRequest Request(uint32_t max_records = 0) {
    cli::RequestParams p;
    p.consumer_agency = "000.00.00.H30";
    p.consumer_system = "hotich";
    p.dataset_id = "bca.population";
    p.purpose_code = "civil-registration";
    p.max_records = max_records;
    return *cli::SignEnvelope(cli::BuildEnvelope(p), *agency_signer_);
  }

  struct Answer {
    grpc::Status status;
    v1::SignedResponse response;
    absl::optional<v1::ErrorDetail> detail;
  };
  Answer Call(const v1::SignedRequest& request) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(20));
    Answer a;
    a.status = stub_->Call(&ctx, request, &a.response);
    if (auto d = cli::ErrorDetailOf(a.status)) a.detail = *d;
    return a;
  }
  // The same call on a thread of its own, for calls held by a fake.
  std::future<Answer> CallLater(const v1::SignedRequest& request) {
    return std::async(std::launch::async,
                      [this, request] { return Call(request); });
  }

  FakeReplayStore replay_;
  FakeAuditLog audit_;
  ScriptedSource* source_ = nullptr;
  std::unique_ptr<adapters::AdapterServer> adapter_;
  std::unique_ptr<FakeAuthorizer> authorizer_;
  std::unique_ptr<certs::TrustStore> trust_;
  std::unique_ptr<RequestChecker> checker_;
  std::unique_ptr<certs::Signer> signer_;
  std::unique_ptr<certs::Signer> agency_signer_;
  std::unique_ptr<AdapterPool> pool_;
  std::unique_ptr<ExchangeService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Exchange::Stub> stub_;
};

// ------------------------------------------------------------ the tests --

TEST_F(ExchangeServiceTest, AnAllowedCallIsFilteredSignedAndAuditedFirst) {
  StartService();
  v1::SignedRequest request = Request();
  Answer a = Call(request);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  auto env = cli::VerifyResponse(a.response, request, trust_.get());
  ASSERT_TRUE(env.ok()) << env.status();
  // Only the decided fields, in the decided order, whatever the adapter sent.
  ASSERT_EQ(env->records().columns_size(), 2);
  EXPECT_EQ(env->records().columns(1), "full_name");
  EXPECT_EQ(env->records().rows_size(), 3);
  EXPECT_EQ(env->records().rows(0).values_size(), 2);
  EXPECT_EQ(env->policy_version(), "r7");
  std::vector<v1::AuditRecord> records = audit_.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].decision(), v1::DECISION_ALLOW);
  EXPECT_EQ(records[0].record_count(), 3u);
  EXPECT_EQ(records[0].policy_rule_id(), "grant-1");
  EXPECT_EQ(records[0].provider_agency(), "000.00.00.G01");
  EXPECT_EQ(env->receipt().sequence_number(), 0u);
  EXPECT_EQ(env->receipt().record_hash(),
            audit::LeafHash(records[0].SerializeAsString()));
  // The seams were asked what they had to be asked.
  EXPECT_EQ(replay_.last().consumer, "000.00.00.H30");
  EXPECT_EQ(authorizer_->last().consumer_system, "hotich");
  EXPECT_EQ(authorizer_->last().max_records, 10000u);
}

TEST_F(ExchangeServiceTest, APolicyRefusalCitesItsLegalBasisAndIsAudited) {
  StartService();
  authorizer_->Deny("Law on Data 2024 Art. 18");
  Answer a = Call(Request());
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(a.detail.has_value());
  EXPECT_EQ(a.detail->reason(), v1::REASON_POLICY_FORBIDDEN);
  EXPECT_EQ(a.detail->legal_basis(), "Law on Data 2024 Art. 18");
  EXPECT_EQ(a.detail->policy_rule_id(), "forbid-1");
  EXPECT_TRUE(a.detail->has_receipt());
  EXPECT_EQ(source_->calls_.load(), 0);  // nothing forwarded
  std::vector<v1::AuditRecord> records = audit_.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].decision(), v1::DECISION_DENY);
  EXPECT_EQ(records[0].reason(), v1::REASON_POLICY_FORBIDDEN);
}

TEST_F(ExchangeServiceTest, AReplayKnownAtOnceStopsBeforeTheDecision) {
  StartService();
  replay_.Answer(false);
  Answer a = Call(Request());
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(a.detail.has_value());
  EXPECT_EQ(a.detail->reason(), v1::REASON_REPLAY);
  EXPECT_EQ(authorizer_->asked(), 0);  // no decision, no quota charged
  EXPECT_EQ(source_->calls_.load(), 0);
  ASSERT_EQ(audit_.records().size(), 1u);
  EXPECT_EQ(audit_.records()[0].reason(), v1::REASON_REPLAY);
}

TEST_F(ExchangeServiceTest, AnAnswerWaitsForTheReplayCheckItOverlaps) {
  StartService();
  replay_.Hold();  // as an etcd round trip would
  std::future<Answer> later = CallLater(Request());
  ASSERT_TRUE(replay_.WaitHeld(1));
  // The decision and the adapter ran meanwhile, but nothing was answered.
  for (int i = 0; i < 200 && source_->calls_.load() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(source_->calls_.load(), 1);
  EXPECT_EQ(later.wait_for(std::chrono::milliseconds(200)),
            std::future_status::timeout);
  EXPECT_TRUE(audit_.records().empty());
  replay_.Release(true);
  Answer a = later.get();
  EXPECT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.response.envelope().empty(), false);
}

TEST_F(ExchangeServiceTest, AReplayLearnedLateDiscardsWhatTheAdapterSent) {
  StartService();
  replay_.Hold();
  std::future<Answer> later = CallLater(Request());
  ASSERT_TRUE(replay_.WaitHeld(1));
  for (int i = 0; i < 200 && source_->calls_.load() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  replay_.Release(false);  // another node had served it
  Answer a = later.get();
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(a.response.envelope().empty());
  ASSERT_TRUE(a.detail.has_value());
  EXPECT_EQ(a.detail->reason(), v1::REASON_REPLAY);
  std::vector<v1::AuditRecord> records = audit_.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].decision(), v1::DECISION_DENY);
  EXPECT_EQ(records[0].record_count(), 0u);
}

TEST_F(ExchangeServiceTest, AReplayStoreThatCannotTellRefusesWithItsOwnReason) {
  StartService();
  replay_.Answer(absl::UnavailableError("etcd: no quorum"));
  Answer a = Call(Request());
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(a.detail.has_value());
  EXPECT_EQ(a.detail->reason(), v1::REASON_REPLAY_STORE_UNAVAILABLE);
  EXPECT_NE(a.status.error_message().find("no quorum"), std::string::npos);
  ASSERT_EQ(audit_.records().size(), 1u);
  EXPECT_EQ(audit_.records()[0].decision(), v1::DECISION_ERROR);
  EXPECT_EQ(source_->calls_.load(), 0);
}

TEST_F(ExchangeServiceTest, AnAuditLogThatFailsServesNothing) {
  StartService();
  audit_.Fail(absl::UnavailableError("disk full"));
  Answer a = Call(Request());
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(a.detail.has_value());
  EXPECT_EQ(a.detail->reason(), v1::REASON_AUDIT_UNAVAILABLE);
  EXPECT_TRUE(a.response.envelope().empty());
  EXPECT_FALSE(a.detail->has_receipt());
}

TEST_F(ExchangeServiceTest, NotReadyRefusesBeforeAnyWork) {
  StartService([](ExchangeDeps* d) {
    d->readiness = [] {
      return Refusal::Of(absl::StatusCode::kUnavailable,
                         v1::REASON_POLICY_NOT_CURRENT, "policy store silent");
    };
  });
  Answer a = Call(Request());
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(a.detail.has_value());
  EXPECT_EQ(a.detail->reason(), v1::REASON_POLICY_NOT_CURRENT);
  EXPECT_EQ(replay_.checks(), 0);
  EXPECT_EQ(authorizer_->asked(), 0);
  EXPECT_EQ(audit_.records().size(), 1u);  // the refusal is audited
}

TEST_F(ExchangeServiceTest, AdapterFailuresMapToTheirReasons) {
  StartService();
  source_->fail_ = absl::InvalidArgumentError("query key 'x' is unknown");
  Answer a = Call(Request());
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(a.detail.has_value());
  EXPECT_EQ(a.detail->reason(), v1::REASON_ADAPTER_ERROR);
  EXPECT_NE(a.status.error_message().find("query key 'x'"), std::string::npos);
  adapter_->Shutdown(0);
  adapter_.reset();
  a = Call(Request());
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(a.detail.has_value());
  EXPECT_EQ(a.detail->reason(), v1::REASON_ADAPTER_UNAVAILABLE);
  std::vector<v1::AuditRecord> records = audit_.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].decision(), v1::DECISION_ERROR);
}

TEST_F(ExchangeServiceTest, TheDailyQuotaIsChargedOnlyForWhatLeft) {
  StartService();
  policy::LocalQuotaStore quotas;
  const policy::QuotaBucket day{"q/rpd", 1, 100};
  policy::QuotaTakeResult taken;
  quotas.Take({{day, 1, 100}}, nullptr,
              [&](absl::StatusOr<policy::QuotaTakeResult> r) { taken = *r; });
  ASSERT_TRUE(taken.granted);
  authorizer_->WithCharge(
      std::make_shared<policy::QuotaCharge>(&quotas, day, taken.taken[0]));
  Answer a = Call(Request());
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  authorizer_->Allow({"citizen_id"});  // drops the fake's copy of the charge
  // 3 records left; the other 97 went back.
  bool all = false, one_more = true;
  quotas.Take(
      {{day, 97, 97}}, nullptr,
      [&](absl::StatusOr<policy::QuotaTakeResult> r) { all = r->granted; });
  quotas.Take({{day, 1, 1}}, nullptr,
              [&](absl::StatusOr<policy::QuotaTakeResult> r) {
                one_more = r->granted;
              });
  EXPECT_TRUE(all);
  EXPECT_FALSE(one_more);
}

TEST_F(ExchangeServiceTest, AStreamSendsBatchesThenASignedEnd) {
  StartService([](ExchangeDeps* d) { d->stream_batch_rows = 2; });
  source_->rows_ = 5;
  v1::SignedRequest request = Request();
  grpc::ClientContext ctx;
  auto reader = stub_->Stream(&ctx, request);
  v1::StreamMessage m;
  std::string digest;
  int batches = 0, rows = 0;
  v1::SignedResponse final;
  while (reader->Read(&m)) {
    if (m.has_final()) {
      final = m.final();
      continue;
    }
    v1::RecordBatch b;
    ASSERT_TRUE(b.ParseFromString(m.batch()));
    ASSERT_EQ(b.columns_size(), 2);
    rows += b.rows_size();
    ++batches;
    digest += certs::Sha256(m.batch());
  }
  ASSERT_TRUE(reader->Finish().ok());
  auto env = cli::VerifyResponse(final, request, trust_.get());
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(rows, 5);
  EXPECT_EQ(env->record_count(), 5u);
  EXPECT_EQ(env->batch_count(), static_cast<uint64_t>(batches));
  EXPECT_EQ(env->batches_digest(), certs::Sha256(digest));
  std::vector<v1::AuditRecord> records = audit_.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].kind(), v1::RECORD_KIND_STREAM_START);
  EXPECT_EQ(records[1].kind(), v1::RECORD_KIND_STREAM_END);
  EXPECT_EQ(records[1].stream_start_sequence(), 0u);
  EXPECT_EQ(records[1].record_count(), 5u);
}

// The consumer reads every batch and leaves while the STREAM_END is being
// recorded: that record says served, so a NOT_DELIVERED record must follow
// it, naming it, with what the consumer got instead.
TEST_F(ExchangeServiceTest,
       AStreamEndThatCannotBeSentIsRecordedAsNotDelivered) {
  StartService([](ExchangeDeps* d) { d->stream_batch_rows = 2; });
  source_->rows_ = 5;
  absl::Notification gateway_saw_cancel;
  authorizer_->NotifyCancelled(&gateway_saw_cancel);
  audit_.HoldKind(v1::RECORD_KIND_STREAM_END);
  grpc::ClientContext ctx;
  auto reader = stub_->Stream(&ctx, Request());
  v1::StreamMessage m;
  int rows = 0;
  while (rows < 5 && reader->Read(&m)) {
    v1::RecordBatch b;
    ASSERT_TRUE(b.ParseFromString(m.batch()));
    rows += b.rows_size();
  }
  ASSERT_EQ(rows, 5);
  ASSERT_TRUE(audit_.WaitHeld(1));  // the end is recorded, not yet durable
  ctx.TryCancel();
  ASSERT_TRUE(
      gateway_saw_cancel.WaitForNotificationWithTimeout(absl::Seconds(10)));
  audit_.Release();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(audit_.WaitRecords(3));
  std::vector<v1::AuditRecord> records = audit_.records();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].kind(), v1::RECORD_KIND_STREAM_END);
  EXPECT_EQ(records[1].decision(), v1::DECISION_ALLOW);
  const v1::AuditRecord& after = records[2];
  EXPECT_EQ(after.kind(), v1::RECORD_KIND_NOT_DELIVERED);
  EXPECT_EQ(after.amends_sequence(), 1u);
  EXPECT_EQ(after.decision(), v1::DECISION_ERROR);
  EXPECT_EQ(after.status_code(), static_cast<int>(grpc::StatusCode::CANCELLED));
  EXPECT_EQ(after.request_id(), records[1].request_id());
  EXPECT_EQ(after.record_count(), 5u);  // the batches did leave
  EXPECT_NE(after.message().find("signed end"), std::string::npos)
      << after.message();
}

// A stream whose end reaches the consumer has no follow-up record.
TEST_F(ExchangeServiceTest, AStreamEndSentHasNoFollowUp) {
  StartService([](ExchangeDeps* d) { d->stream_batch_rows = 2; });
  grpc::ClientContext ctx;
  auto reader = stub_->Stream(&ctx, Request());
  v1::StreamMessage m;
  bool final = false;
  while (reader->Read(&m)) final = final || m.has_final();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(final);
  std::vector<v1::AuditRecord> records = audit_.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].kind(), v1::RECORD_KIND_STREAM_END);
}

// An answer that cannot be signed after its record was written: the
// consumer gets INTERNAL, and a NOT_DELIVERED record follows the ALLOW one,
// its receipt in the error. (The answer step is the seam here: the real
// signer has no way to fail on demand.)
TEST(CloseAllowedTest, AnAnswerThatCannotBeSignedIsRecordedAsNotDelivered) {
  FakeAuditLog log;
  ExchangeDeps deps;
  deps.audit = &log;
  deps.clock = SystemClock::Get();
  deps.node_id = "gw1";
  grpc::CallbackServerContext ctx;
  internal::Admission a(deps, &ctx, v1::RECORD_KIND_EXCHANGE);
  a.record().set_request_id("req-1");
  a.record().set_dataset_id("bca.population");
  a.record().set_record_count(3);
  a.record().add_returned_fields("full_name");
  absl::Notification finished;
  grpc::Status status;
  internal::CloseAllowed(
      deps, &a,
      [](const audit::AppendResult&) {
        return absl::InternalError("the signing key is unusable");
      },
      [&](grpc::Status s) {
        status = std::move(s);
        finished.Notify();
      });
  ASSERT_TRUE(finished.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  std::vector<v1::AuditRecord> records = log.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].kind(), v1::RECORD_KIND_EXCHANGE);
  EXPECT_EQ(records[0].decision(), v1::DECISION_ALLOW);
  EXPECT_EQ(records[1].kind(), v1::RECORD_KIND_NOT_DELIVERED);
  EXPECT_EQ(records[1].amends_sequence(), 0u);
  EXPECT_EQ(records[1].decision(), v1::DECISION_ERROR);
  EXPECT_EQ(records[1].request_id(), "req-1");
  EXPECT_EQ(records[1].record_count(), 0u);  // nothing reached the consumer
  EXPECT_EQ(records[1].returned_fields_size(), 0);
  EXPECT_NE(records[1].message().find("signing key"), std::string::npos)
      << records[1].message();
  auto detail = cli::ErrorDetailOf(status);
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->receipt().sequence_number(), 1u);
}

TEST_F(ExchangeServiceTest, AStreamRefusedByPolicyIsOneRecord) {
  StartService();
  authorizer_->Deny("x");
  grpc::ClientContext ctx;
  auto reader = stub_->Stream(&ctx, Request());
  v1::StreamMessage m;
  EXPECT_FALSE(reader->Read(&m));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  std::vector<v1::AuditRecord> records = audit_.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].kind(), v1::RECORD_KIND_EXCHANGE);
}

TEST_F(ExchangeServiceTest, BeyondMaxInFlightCallsAreRefusedAtOnce) {
  StartService([](ExchangeDeps* d) { d->max_in_flight = 1; });
  authorizer_->Hold();
  std::future<Answer> held = CallLater(Request());
  ASSERT_TRUE(authorizer_->WaitHeld(1));
  Answer a = Call(Request());
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(service_->TakeOverloadRefusals(), 1u);
  authorizer_->Release();
  EXPECT_TRUE(held.get().status.ok());
  // The place is given back when the call object goes, just after it
  // answered.
  for (int i = 0; i < 500 && service_->in_flight() != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(service_->in_flight(), 0);
}

TEST_F(ExchangeServiceTest, AfterStopAcceptingCallsAreRefused) {
  StartService();
  service_->StopAccepting();
  Answer a = Call(Request());
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(a.detail.has_value());
  EXPECT_EQ(a.detail->reason(), v1::REASON_GATEWAY_UNAVAILABLE);
}

}  // namespace
}  // namespace dx::gateway
