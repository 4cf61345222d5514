#include "authz/call_gate.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "authz/roles.h"
#include "rpc/status.h"

namespace dx::authz {
namespace {

using grpc::experimental::InterceptionHookPoints;

std::string PeerPem(const grpc::ServerContextBase& ctx) {
  auto auth = ctx.auth_context();
  if (!auth) return "";
  auto values = auth->FindPropertyValues("x509_pem_cert");
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}

// In-process calls have no transport security at all.
bool IsInProcess(const grpc::ServerContextBase& ctx) {
  auto auth = ctx.auth_context();
  if (!auth) return true;
  auto kind = auth->FindPropertyValues("transport_security_type");
  return kind.empty() || (kind.front() != "ssl" && kind.front() != "tls");
}

// The budget's key for a refused caller: a verified identity is itself
// wherever it calls from; anyone else is only their address (without the
// port, which a flood may change at every call).
std::string BudgetKey(const CallGate::RefusedCall& refused,
                      const std::string& peer) {
  if (refused.identity_verified) return refused.actor;
  const size_t colon = peer.rfind(':');
  return absl::StrCat(
      "address ", colon == std::string::npos ? peer : peer.substr(0, colon));
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

}  // namespace

// One per governed call: admits it at its start, enforces a refusal on
// its status, and forgets it at the end.
class CallGate::Interceptor final : public grpc::experimental::Interceptor {
 public:
  Interceptor(CallGate* gate, grpc::experimental::ServerRpcInfo* info)
      : gate_(gate), ctx_(info->server_context()), method_(info->method()) {}
  ~Interceptor() override { gate_->Forget(ctx_); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      std::string session_id;
      if (auto* md = m->GetRecvInitialMetadata(); md != nullptr) {
        auto it = md->find(kSessionMetadata);
        if (it != md->end()) {
          session_id.assign(it->second.data(), it->second.size());
        }
      }
      gate_->Admit(ctx_, method_, session_id);
    }
    if (m->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      absl::StatusOr<certs::Principal> who = gate_->Caller(ctx_);
      if (!who.ok()) m->ModifySendStatus(rpc::ToGrpcStatus(who.status()));
    }
    m->Proceed();
  }

 private:
  CallGate* const gate_;
  const grpc::ServerContextBase* const ctx_;
  const std::string method_;
};

class CallGate::Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(CallGate* gate) : gate_(gate) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Exchanges and health checks carry no cost here.
    if (info->method() == nullptr || !Governs(info->method())) return nullptr;
    return new Interceptor(gate_, info);
  }

 private:
  CallGate* const gate_;
};

CallGate::CallGate(certs::TrustStore* trust, audit::AdminRecorder* recorder,
                   Options options)
    : trust_(trust),
      recorder_(recorder),
      options_(options),
      budget_(options.clock, options.refusals_per_minute, options.max_callers) {
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
CallGate::NewInterceptorFactory() {
  return std::make_unique<Factory>(this);
}

absl::StatusOr<certs::Principal> CallGate::Authorize(
    absl::string_view peer_pem, absl::string_view method) const {
  if (peer_pem.empty()) {
    return absl::UnauthenticatedError("no TLS client certificate");
  }
  certs::CertVerdict v = trust_->VerifyPem(peer_pem);
  if (!v.ok()) return absl::UnauthenticatedError(v.message);
  absl::Status allowed = Allow(v.cert->principal, method);
  if (!allowed.ok()) return allowed;
  return v.cert->principal;
}

std::string CallGate::ActorOf(const absl::StatusOr<certs::Principal>& who,
                              absl::string_view peer_pem,
                              const std::string& peer_address) {
  if (who.ok()) return certs::ActorName(*who);
  // Refused: who the certificate claims to be, if it parses at all.
  auto cert = certs::ParseCertificatePem(std::string(peer_pem));
  if (cert.ok()) {
    auto principal = certs::PrincipalOf(cert->get());
    if (principal.ok()) return certs::ActorName(*principal);
  }
  return absl::StrCat("unauthenticated ", peer_address);
}

void CallGate::SetConsoleSessions(
    std::function<std::string(absl::string_view)> pem_of_session) {
  absl::MutexLock lock(&mu_);
  pem_of_session_ = std::move(pem_of_session);
}

std::string CallGate::CallerPem(const grpc::ServerContextBase& ctx,
                                const std::string& session_id) const {
  std::string pem = PeerPem(ctx);
  // Only a call without TLS can be the console's: the gateway's ports all
  // speak TLS, so such a call came through the in-process channel.
  if (!pem.empty() || session_id.empty() || !IsInProcess(ctx)) return pem;
  std::function<std::string(absl::string_view)> lookup;
  {
    absl::MutexLock lock(&mu_);
    lookup = pem_of_session_;
  }
  return lookup ? lookup(session_id) : std::string();
}

void CallGate::Admit(const grpc::ServerContextBase* ctx,
                     const std::string& method, const std::string& session_id) {
  const std::string pem = CallerPem(*ctx, session_id);
  absl::StatusOr<certs::Principal> who = Authorize(pem, method);
  if (!who.ok()) {
    // Attempts are audited too; the refusal stands whether or not the
    // record can be written.
    RefusedCall refused;
    refused.actor = ActorOf(who, pem, ctx->peer());
    // A certificate that verified but lacks the role is a known caller.
    refused.identity_verified =
        who.status().code() == absl::StatusCode::kPermissionDenied &&
        trust_->VerifyPem(pem).ok();
    if (auto cert = certs::ParseCertificatePem(pem); cert.ok()) {
      refused.cert_sha256 = certs::CertificateFingerprint(cert->get());
    }
    refused.action = RefusalAction(method);
    refused.detail = absl::StrCat(
        method.substr(method.rfind('/') + 1),
        " refused: ", absl::StatusCodeToString(who.status().code()), ": ",
        who.status().message());
    refused.code = who.status().code();
    RecordWithinBudget(refused, ctx->peer());
  }
  absl::MutexLock lock(&mu_);
  verdicts_.insert_or_assign(ctx, std::move(who));
}

void CallGate::RecordWithinBudget(const RefusedCall& refused,
                                  const std::string& peer) {
  RefusalBudget::Verdict budget = budget_.Take(BudgetKey(refused, peer));
  for (const RefusalBudget::Count& c : budget.due) RecordCount(c);
  if (budget.record) {
    recorder_->RecordRefusal(refused);
    return;
  }
  if (!budget.first_over) return;
  RefusedCall flood = refused;
  flood.action = "authz.flood";
  flood.detail = absl::StrCat(
      "over ", options_.refusals_per_minute, " refused calls a minute from ",
      refused.actor, " (the last: ", refused.detail, "): its refusals until ",
      Rfc3339(budget.window_end), " are counted, and recorded as one count");
  flood.code = absl::StatusCode::kResourceExhausted;
  recorder_->RecordRefusal(flood);
}

void CallGate::RecordCount(const RefusalBudget::Count& c) {
  RefusedCall count;
  count.actor = c.address;
  count.action = "authz.flood";
  count.detail =
      absl::StrCat(c.refusals, " more refused call(s) from ", c.address,
                   " from ", Rfc3339(c.from), " to ", Rfc3339(c.to),
                   ", counted, not recorded one by one (over ",
                   options_.refusals_per_minute, " a minute from one caller)");
  count.code = absl::StatusCode::kResourceExhausted;
  recorder_->RecordRefusal(count);
}

void CallGate::RecordRefusalCounts(bool all) {
  for (const RefusalBudget::Count& c :
       all ? budget_.Drain() : budget_.TakeDue()) {
    RecordCount(c);
  }
}

void CallGate::Forget(const grpc::ServerContextBase* ctx) {
  absl::MutexLock lock(&mu_);
  verdicts_.erase(ctx);
}

absl::StatusOr<certs::Principal> CallGate::Caller(
    const grpc::ServerContextBase* ctx) const {
  absl::MutexLock lock(&mu_);
  auto it = verdicts_.find(ctx);
  if (it == verdicts_.end()) {
    return absl::PermissionDeniedError(
        "this call was not admitted by the authorization gate");
  }
  return it->second;
}

}  // namespace dx::authz
