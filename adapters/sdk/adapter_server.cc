#include "adapters/sdk/adapter_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "certs/crypto.h"
#include "certs/identity.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "dx/v1/adapter.grpc.pb.h"

namespace dx::adapters {

class AdapterServer::Service final : public v1::Adapter::Service {
 public:
  Service(Sources sources, std::vector<std::string> allowed,
          certs::TrustStore* trust)
      : sources_(std::move(sources)),
        allowed_(std::move(allowed)),
        trust_(trust) {}

  grpc::Status Fetch(grpc::ServerContext* ctx, const v1::AdapterRequest* req,
                     v1::AdapterResponse* resp) override {
    const DataSource* source = nullptr;
    if (grpc::Status s = Admit(ctx, *req, &source); !s.ok()) return s;
    v1::RecordBatch* out = resp->mutable_records();
    const uint32_t limit = req->max_records();
    absl::Status st = source->Fetch(*req, [&](v1::RecordBatch&& batch) {
      if (out->columns_size() == 0) *out->mutable_columns() = batch.columns();
      for (auto& row : *batch.mutable_rows()) {
        if (limit != 0 && static_cast<uint32_t>(out->rows_size()) >= limit) {
          resp->set_truncated(true);
          return false;
        }
        *out->add_rows() = std::move(row);
      }
      return !ctx->IsCancelled();
    });
    return ToGrpc(st);
  }

  grpc::Status FetchStream(
      grpc::ServerContext* ctx, const v1::AdapterRequest* req,
      grpc::ServerWriter<v1::RecordBatch>* writer) override {
    const DataSource* source = nullptr;
    if (grpc::Status s = Admit(ctx, *req, &source); !s.ok()) return s;
    absl::Status st = source->Fetch(*req, [&](v1::RecordBatch&& batch) {
      return !ctx->IsCancelled() && writer->Write(batch);
    });
    return ToGrpc(st);
  }

 private:
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
    if (s.ok()) return grpc::Status::OK;
    return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                        std::string(s.message()));
  }

  Sources sources_;
  std::vector<std::string> allowed_;
  certs::TrustStore* const trust_;
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
  server->service_ = std::make_unique<Service>(
      std::move(sources), options.allowed_gateways, server->trust_.get());
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
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen_address,
        " (address in use, or the TLS key and certificate do not match)"));
  }
  if (!options.crl_files.empty()) {
    server->crl_reloader_ =
        std::thread([s = server.get(), every = options.crl_reload_seconds] {
          s->ReloadCrls(every);
        });
  }
  return server;
}

void AdapterServer::ReloadCrls(int every_seconds) {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping),
                               absl::Seconds(std::max(1, every_seconds)))) {
    bool reloaded = false;
    absl::Status s = trust_->ReloadCrlsIfChanged(&reloaded);
    if (!s.ok()) {
      std::cerr << "adapter: CRL reload failed, keeping the old: "
                << s.message() << "\n";
    }
  }
}

AdapterServer::~AdapterServer() {
  if (server_) Shutdown(0);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (crl_reloader_.joinable()) crl_reloader_.join();
}

void AdapterServer::Shutdown(int grace_seconds) {
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::seconds(grace_seconds));
}

void AdapterServer::Wait() { server_->Wait(); }

}  // namespace dx::adapters
