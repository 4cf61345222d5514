#include "adapters/sdk/adapter_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "certs/crypto.h"
#include "certs/expiry.h"
#include "certs/identity.h"
#include "common/files.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/status_macros.h"
#include "dx/v1/adapter.grpc.pb.h"
#include "metrics/grpc_server_metrics.h"
#include "metrics/http_endpoint.h"
#include "metrics/metrics.h"
#include "prometheus/counter.h"
#include "rpc/status.h"

namespace dx::adapters {

// What a unary answer may hold when the gateway does not say (an older
// gateway): the gateway's default max_response_bytes.
constexpr uint64_t kDefaultMaxAnswerBytes = 64 << 20;
namespace {

// The adapter's certificate, trust anchors and CRLs, and time left on each.
std::vector<metrics::ScrapedFamily> ExpiryFamilies(
    const AdapterServer::Options& o) {
  metrics::ScrapedFamily certs, crls;
  certs.name = "dx_certificate_expiry_seconds";
  certs.help = "Seconds until a certificate this adapter uses expires.";
  crls.name = "dx_crl_next_update_seconds";
  crls.help = "Seconds until a CRL's nextUpdate.";
  const absl::Time now = absl::Now();
  for (const auto& [file, what] :
       {std::pair<std::string, std::string>{o.cert_file, "adapter TLS"},
        {o.ca_file, "trust anchor"},
        {o.intermediates_file, "intermediate"}}) {
    if (file.empty()) continue;
    auto found = certs::CertificateExpiries(file, what);
    if (!found.ok()) continue;
    for (const certs::Expiry& e : *found) {
      certs.samples.push_back({{{"what", e.what}, {"subject", e.subject}},
                               absl::ToDoubleSeconds(e.not_after - now)});
      if (what == "adapter TLS") break;  // the leaf; its issuers follow
    }
  }
  for (const std::string& file : o.crl_files) {
    auto found = certs::CrlNextUpdates(file);
    if (!found.ok()) continue;
    for (const certs::Expiry& e : *found) {
      crls.samples.push_back(
          {{{"issuer", e.subject}}, absl::ToDoubleSeconds(e.not_after - now)});
    }
  }
  return {certs, crls};
}

}  // namespace

class AdapterServer::Service final : public v1::Adapter::Service {
 public:
  Service(Sources sources, std::vector<std::string> allowed,
          certs::TrustStore* trust, metrics::Metrics* metrics)
      : sources_(std::move(sources)),
        allowed_(std::move(allowed)),
        trust_(trust) {
    if (metrics == nullptr) return;
    auto& requests = prometheus::BuildCounter()
                         .Name("dx_adapter_requests_total")
                         .Help("Requests served, by dataset and gRPC status.")
                         .Register(metrics->registry());
    auto& records = prometheus::BuildCounter()
                        .Name("dx_adapter_records_total")
                        .Help("Records sent to the gateway, by dataset.")
                        .Register(metrics->registry());
    requests_ = &requests;
    for (const auto& [id, source] : sources_) {
      records_[id] = &records.Add({{"dataset", id}});
    }
  }

  grpc::Status Fetch(grpc::ServerContext* ctx, const v1::AdapterRequest* req,
                     v1::AdapterResponse* resp) override {
    const DataSource* source = nullptr;
    if (grpc::Status s = Admit(ctx, *req, &source); !s.ok()) {
      return Counted(*req, s, 0);
    }
    v1::RecordBatch* out = resp->mutable_records();
    const uint32_t limit = req->max_records();
    // The answer is held whole until it is sent: it stops at what the
    // gateway accepts, whatever the source would still emit.
    const uint64_t budget = req->max_answer_bytes() != 0
                                ? req->max_answer_bytes()
                                : kDefaultMaxAnswerBytes;
    uint64_t bytes = 0;
    bool too_large = false;
    absl::Status st =
        source->Fetch(*req, ContextOf(ctx), [&](v1::RecordBatch&& batch) {
          if (out->columns_size() == 0)
            *out->mutable_columns() = batch.columns();
          for (auto& row : *batch.mutable_rows()) {
            if (limit != 0 &&
                static_cast<uint32_t>(out->rows_size()) >= limit) {
              resp->set_truncated(true);
              return false;
            }
            bytes += row.ByteSizeLong() + 5;  // tag and length, at most
            if (bytes > budget) {
              too_large = true;
              return false;
            }
            *out->add_rows() = std::move(row);
          }
          return !ctx->IsCancelled();
        });
    if (too_large) {
      out->Clear();  // nothing of it is sent
      resp->set_truncated(false);
      st = absl::ResourceExhaustedError(
          absl::StrCat("the answer is larger than the gateway accepts (",
                       budget, " bytes); it was not sent"));
    }
    return Counted(*req, ToGrpc(st), out->rows_size());
  }

  grpc::Status FetchStream(
      grpc::ServerContext* ctx, const v1::AdapterRequest* req,
      grpc::ServerWriter<v1::RecordBatch>* writer) override {
    const DataSource* source = nullptr;
    if (grpc::Status s = Admit(ctx, *req, &source); !s.ok()) {
      return Counted(*req, s, 0);
    }
    uint64_t sent = 0;
    absl::Status st = source->Fetch(
        *req, ContextOf(ctx, /*streaming=*/true), [&](v1::RecordBatch&& batch) {
          if (ctx->IsCancelled() || !writer->Write(batch)) return false;
          sent += batch.rows_size();
          return true;
        });
    return Counted(*req, ToGrpc(st), sent);
  }

  // A change feed (subscriptions): batches of changes, and an empty batch
  // when the log is idle, until the gateway cancels.
  grpc::Status Changes(grpc::ServerContext* ctx, const v1::ChangesRequest* req,
                       grpc::ServerWriter<v1::ChangeBatch>* writer) override {
    v1::AdapterRequest as_fetch;  // what Admit and the counters read
    as_fetch.set_dataset_id(req->dataset_id());
    const DataSource* source = nullptr;
    if (grpc::Status s = Admit(ctx, as_fetch, &source); !s.ok()) {
      return Counted(as_fetch, s, 0);
    }
    uint64_t sent = 0;
    absl::Status st = source->Changes(
        *req, ContextOf(ctx, /*streaming=*/true), [&](v1::ChangeBatch&& b) {
          if (ctx->IsCancelled() || !writer->Write(b)) return false;
          sent += b.changes_size();
          return true;
        });
    // The gateway ending the feed is how a feed ends: not an error.
    if (ctx->IsCancelled()) st = absl::CancelledError("the gateway left");
    return Counted(as_fetch, ToGrpc(st), sent);
  }

 private:
  static FetchContext ContextOf(grpc::ServerContext* ctx,
                                bool streaming = false) {
    FetchContext context;
    context.streaming = streaming;
    context.deadline = absl::FromChrono(ctx->deadline());
    context.cancelled = [ctx] { return ctx->IsCancelled(); };
    return context;
  }

  // Counts a request and its records (datasets not served count as
  // "unknown": a caller cannot add label values).
  grpc::Status Counted(const v1::AdapterRequest& req, grpc::Status s,
                       uint64_t records) {
    if (requests_ == nullptr) return s;
    auto it = records_.find(req.dataset_id());
    const bool known = it != records_.end();
    requests_
        ->Add({{"dataset", known ? req.dataset_id() : "unknown"},
               {"outcome", metrics::GrpcCodeName(s.error_code())}})
        .Increment();
    if (known && records > 0)
      it->second->Increment(static_cast<double>(records));
    return s;
  }

  // Only a gateway may call; the dataset must be one this adapter serves.
  grpc::Status Admit(grpc::ServerContext* ctx, const v1::AdapterRequest& req,
                     const DataSource** source) {
    auto pems = ctx->auth_context()->FindPropertyValues("x509_pem_cert");
    if (pems.empty()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "no client certificate: only a dx gateway may call "
                          "this adapter");
    }
    // gRPC verified the chain, but checks no CRL: verify again as the
    // gateway does (a revoked gateway certificate is refused).
    certs::CertVerdict v = trust_->VerifyPem(
        absl::string_view(pems.front().data(), pems.front().size()));
    if (!v.ok()) {
      return grpc::Status(
          grpc::StatusCode::UNAUTHENTICATED,
          absl::StrCat("the gateway's certificate is refused: ", v.message));
    }
    const certs::Principal& principal = v.cert->principal;
    if (principal.kind != certs::PrincipalKind::kGateway ||
        (!allowed_.empty() && std::find(allowed_.begin(), allowed_.end(),
                                        principal.id) == allowed_.end())) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "caller is not an allowed dx gateway (its "
                          "certificate must carry urn:dx:gateway:<node>)");
    }
    auto it = sources_.find(req.dataset_id());
    if (it == sources_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("this adapter does not serve dataset '",
                                       req.dataset_id(), "'"));
    }
    *source = it->second.get();
    return grpc::Status::OK;
  }

  static grpc::Status ToGrpc(const absl::Status& s) {
    return rpc::ToGrpcStatus(s);
  }

  Sources sources_;
  std::vector<std::string> allowed_;
  certs::TrustStore* const trust_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  std::map<std::string, prometheus::Counter*> records_;
};

absl::StatusOr<std::unique_ptr<AdapterServer>> AdapterServer::Start(
    Options options, Sources sources) {
  std::unique_ptr<AdapterServer> server(new AdapterServer());
  certs::TrustStore::Options trust;
  trust.ca_file = options.ca_file;
  trust.intermediates_file = options.intermediates_file;
  trust.crl_files = options.crl_files;
  trust.require_crl = options.require_crl;
  DX_ASSIGN_OR_RETURN(server->trust_, certs::TrustStore::Create(trust));
  DX_ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(options.ca_file));
  if (!options.metrics_address.empty()) {
    server->metrics_ = std::make_unique<metrics::Metrics>();
    server->metrics_->AddScrape([options] { return ExpiryFamilies(options); });
  }
  server->service_ =
      std::make_unique<Service>(std::move(sources), options.allowed_gateways,
                                server->trust_.get(), server->metrics_.get());
  grpc::SslServerCredentialsOptions ssl(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = ca_pem;
  ssl.pem_key_cert_pairs.push_back(
      {options.private_key_pem, options.cert_chain_pem});
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address,
                           grpc::SslServerCredentials(ssl), &server->port_);
  builder.RegisterService(server->service_.get());
  builder.SetMaxSendMessageSize(256 << 20);
  if (server->metrics_ != nullptr) {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(metrics::NewGrpcServerMetrics(
        &server->metrics_->registry(), {"dx.v1.Adapter"}));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen_address,
        " (address in use, or the TLS key and certificate do not match)"));
  }
  if (server->metrics_ != nullptr) {
    DX_ASSIGN_OR_RETURN(
        server->metrics_endpoint_,
        metrics::HttpEndpoint::Start(
            {options.metrics_address,
             [m = server->metrics_.get()] { return m->Exposition(); },
             nullptr}));
  }
  if (!options.crl_files.empty()) {
    server->crl_reloader_ = std::make_unique<Periodic>(
        absl::Seconds(std::max(1, options.crl_reload_seconds)),
        [trust = server->trust_.get()] { ReloadCrls(trust); }, "dx-crl");
  }
  return server;
}

void AdapterServer::ReloadCrls(certs::TrustStore* trust) {
  bool reloaded = false;
  absl::Status s = trust->ReloadCrlsIfChanged(&reloaded);
  if (!s.ok()) {
    LogEvent("adapter", "warning",
             absl::StrCat("CRL reload failed, keeping the old: ", s.message()));
  }
}

int AdapterServer::metrics_port() const {
  return metrics_endpoint_ ? metrics_endpoint_->port() : 0;
}

AdapterServer::~AdapterServer() {
  metrics_endpoint_.reset();
  if (server_) Shutdown(0);
  crl_reloader_.reset();
}

void AdapterServer::Shutdown(int grace_seconds) {
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::seconds(grace_seconds));
}

void AdapterServer::Wait() { server_->Wait(); }

}  // namespace dx::adapters
