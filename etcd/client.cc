#include "etcd/client.h"

#include <grpcpp/grpcpp.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "rpc/status.h"

namespace dx::etcd {
namespace {

absl::StatusOr<std::string> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

bool IsRetriable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

absl::Status FromGrpc(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  // Every failure to reach a quorum reads as UNAVAILABLE to callers, who
  // refuse (fail closed) and say so.
  const absl::StatusCode code = IsRetriable(s) ? absl::StatusCode::kUnavailable
                                               : rpc::FromGrpcStatus(s).code();
  return absl::Status(code, absl::StrCat(what, ": ", s.error_message()));
}

std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Client::Client(Options options) : options_(std::move(options)) {}
Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Create(Options options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError(
        "cluster.etcd_endpoints is empty: list every etcd member as host:port");
  }
  std::shared_ptr<grpc::ChannelCredentials> creds =
      grpc::InsecureChannelCredentials();
  if (!options.ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    auto ca = Slurp(options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    if (!options.cert_file.empty()) {
      auto cert = Slurp(options.cert_file);
      auto key = Slurp(options.key_file);
      if (!cert.ok()) return cert.status();
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  }
  std::unique_ptr<Client> c(new Client(std::move(options)));
  for (const std::string& e : c->options_.endpoints) {
    grpc::ChannelArguments args;
    // A member that stops answering (frozen, partitioned) is found by the
    // missing ping acknowledgements, not only by the calls that time out on
    // it. etcd refuses pings more often than every 5 s (its
    // --grpc-keepalive-min-time) by closing the connection.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    // A connection that is accepted but never answered (a member still
    // starting, or frozen) is given up after a second, not gRPC's 20 s.
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetMaxReceiveMessageSize(64 << 20);
    c->channels_.push_back(grpc::CreateCustomChannel(e, creds, args));
  }
  return c;
}

std::shared_ptr<grpc::Channel> Client::Preferred(size_t* index) const {
  *index = preferred_.load() % channels_.size();
  return channels_[*index];
}

void Client::Failed(size_t index) {
  // Move on from `index`, unless another call already did.
  size_t expected = index;
  preferred_.compare_exchange_strong(expected, (index + 1) % channels_.size());
}

template <typename Resp, typename Call>
absl::StatusOr<Resp> Client::Blocking(Call call) {
  grpc::Status last;
  for (size_t attempt = 0; attempt < channels_.size(); ++attempt) {
    size_t index;
    auto channel = Preferred(&index);
    grpc::ClientContext ctx;
    ctx.set_deadline(
        absl::ToChronoTime(absl::Now() + options_.attempt_timeout));
    Resp resp;
    last = call(channel, &ctx, &resp);
    if (last.ok()) return resp;
    if (!IsRetriable(last)) break;
    Failed(index);
  }
  return FromGrpc(last, "etcd");
}

absl::StatusOr<etcdserverpb::TxnResponse> Client::TxnNow(
    const etcdserverpb::TxnRequest& request) {
  return Blocking<etcdserverpb::TxnResponse>(
      [&](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext* ctx,
          etcdserverpb::TxnResponse* resp) {
        return etcdserverpb::KV::NewStub(ch)->Txn(ctx, request, resp);
      });
}

absl::StatusOr<etcdserverpb::RangeResponse> Client::RangeNow(
    const etcdserverpb::RangeRequest& request) {
  return Blocking<etcdserverpb::RangeResponse>(
      [&](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext* ctx,
          etcdserverpb::RangeResponse* resp) {
        return etcdserverpb::KV::NewStub(ch)->Range(ctx, request, resp);
      });
}

absl::StatusOr<etcdserverpb::PutResponse> Client::PutNow(
    const etcdserverpb::PutRequest& request) {
  return Blocking<etcdserverpb::PutResponse>(
      [&](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext* ctx,
          etcdserverpb::PutResponse* resp) {
        return etcdserverpb::KV::NewStub(ch)->Put(ctx, request, resp);
      });
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> Client::DeleteRangeNow(
    const etcdserverpb::DeleteRangeRequest& request) {
  return Blocking<etcdserverpb::DeleteRangeResponse>(
      [&](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext* ctx,
          etcdserverpb::DeleteRangeResponse* resp) {
        return etcdserverpb::KV::NewStub(ch)->DeleteRange(ctx, request, resp);
      });
}

absl::StatusOr<int64_t> Client::GrantLease(absl::Duration ttl) {
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(absl::ToInt64Seconds(absl::Ceil(ttl, absl::Seconds(1))));
  auto resp = Blocking<etcdserverpb::LeaseGrantResponse>(
      [&](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext* ctx,
          etcdserverpb::LeaseGrantResponse* out) {
        return etcdserverpb::Lease::NewStub(ch)->LeaseGrant(ctx, req, out);
      });
  if (!resp.ok()) return resp.status();
  if (!resp->error().empty()) {
    return absl::UnavailableError(
        absl::StrCat("etcd lease grant: ", resp->error()));
  }
  return resp->id();
}

absl::Status Client::KeepAlive(int64_t lease) {
  grpc::Status last;
  for (size_t attempt = 0; attempt < channels_.size(); ++attempt) {
    size_t index;
    auto channel = Preferred(&index);
    grpc::ClientContext ctx;
    ctx.set_deadline(
        absl::ToChronoTime(absl::Now() + options_.attempt_timeout));
    auto stream = etcdserverpb::Lease::NewStub(channel)->LeaseKeepAlive(&ctx);
    etcdserverpb::LeaseKeepAliveRequest req;
    req.set_id(lease);
    etcdserverpb::LeaseKeepAliveResponse resp;
    if (stream->Write(req) && stream->Read(&resp)) {
      stream->WritesDone();
      ctx.TryCancel();
      (void)stream->Finish();
      if (resp.ttl() <= 0) {
        return absl::NotFoundError(
            absl::StrCat("etcd lease ", lease, " has expired"));
      }
      return absl::OkStatus();
    }
    ctx.TryCancel();
    last = stream->Finish();
    if (!last.ok() && !IsRetriable(last)) break;
    Failed(index);
  }
  return FromGrpc(last.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                           "no member answered")
                            : last,
                  "etcd lease keep-alive");
}

absl::Status Client::RevokeLease(int64_t lease) {
  etcdserverpb::LeaseRevokeRequest req;
  req.set_id(lease);
  return Blocking<etcdserverpb::LeaseRevokeResponse>(
             [&](const std::shared_ptr<grpc::Channel>& ch,
                 grpc::ClientContext* ctx,
                 etcdserverpb::LeaseRevokeResponse* out) {
               return etcdserverpb::Lease::NewStub(ch)->LeaseRevoke(ctx, req,
                                                                    out);
             })
      .status();
}

}  // namespace dx::etcd
