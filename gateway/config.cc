#include "gateway/config.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/env_expand.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/yaml_proto.h"

namespace dx::gateway {
namespace {

// audit.timestamping: off without a url; with one, roots to check its
// tokens by, and the defaults.
template <typename Resolve>
absl::Status NormalizeTimestamping(const std::string& path, Resolve resolve,
                                   v1::TimestampAuthorityConfig* t) {
  if (t->url().empty()) {
    if (!t->ca_file().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path,
          ": field 'audit.timestamping.url' must be set when "
          "audit.timestamping is (the authority's http:// or https:// URL)"));
    }
    return absl::OkStatus();
  }
  if (!absl::StartsWith(t->url(), "http://") &&
      !absl::StartsWith(t->url(), "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": field 'audit.timestamping.url' must start with http:// or ",
        "https:// (got '", t->url(), "')"));
  }
  if (t->ca_file().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        ": field 'audit.timestamping.ca_file' must be set: the PEM roots the "
        "authority's tokens chain to"));
  }
  resolve(t->mutable_ca_file());
  if (t->tls_ca_file().empty()) {
    t->set_tls_ca_file(t->ca_file());
  } else {
    resolve(t->mutable_tls_ca_file());
  }
  if (t->interval_seconds() == 0) t->set_interval_seconds(600);
  if (t->timeout_ms() == 0) t->set_timeout_ms(10000);
  if (t->max_reply_bytes() == 0) t->set_max_reply_bytes(65536);
  return absl::OkStatus();
}

// federation: each anchor names its operator and its three files; two
// anchors of one operator would leave which is in force to chance.
template <typename Resolve>
absl::Status NormalizeFederation(const std::string& path, Resolve resolve,
                                 v1::FederationConfig* f) {
  auto refuse = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": federation.", what));
  };
  if (f->anchors_size() > 0 && f->platform_id().empty()) {
    return refuse(
        "platform_id must name this platform as the anchors do (e.g. "
        "vn.gov.hanoi)");
  }
  for (int i = 0; i < f->anchors_size(); ++i) {
    v1::FederationAnchorFile* a = f->mutable_anchors(i);
    const std::string at = absl::StrCat("anchors[", i, "].");
    if (a->operator_platform_id().empty()) {
      return refuse(absl::StrCat(
          at,
          "operator_platform_id must name the platform whose operator "
          "signs the anchor (its platform_id)"));
    }
    for (int j = 0; j < i; ++j) {
      if (f->anchors(j).operator_platform_id() == a->operator_platform_id()) {
        return refuse(absl::StrCat(
            at, "operator_platform_id ", a->operator_platform_id(),
            " is also anchors[", j, "]'s: one anchor per operator"));
      }
    }
    if (a->anchor_file().empty() || a->signature_file().empty() ||
        a->operator_certificate_file().empty()) {
      return refuse(absl::StrCat(
          at,
          "anchor_file, signature_file and operator_certificate_file "
          "must all be set"));
    }
    resolve(a->mutable_anchor_file());
    resolve(a->mutable_signature_file());
    resolve(a->mutable_operator_certificate_file());
  }
  return absl::OkStatus();
}

// witness: off without a listen_address; with one, everything it needs
// to cosign is named. The keys themselves are read at start
// (gateway/witness_port.cc), which names the file or line that is wrong.
template <typename Resolve>
absl::Status NormalizeWitness(const std::string& path, Resolve resolve,
                              v1::WitnessConfig* w) {
  auto refuse = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": witness.", what));
  };
  for (int i = 0; i < w->peers_size(); ++i) {
    v1::WitnessPeer* peer = w->mutable_peers(i);
    if (!absl::StartsWith(peer->url(), "https://")) {
      return refuse(absl::StrCat("peers[", i, "].url '", peer->url(),
                                 "' must be https://host:port[/prefix]"));
    }
    if (peer->vkey().empty()) {
      return refuse(absl::StrCat(
          "peers[", i,
          "].vkey must be the peer witness's verifier key (its start logs "
          "it)"));
    }
    resolve(peer->mutable_ca_file());
  }
  if (w->submit_interval_seconds() == 0) w->set_submit_interval_seconds(30);
  if (w->listen_address().empty()) {
    if (w->logs_size() > 0 || !w->key_file().empty()) {
      return refuse(
          "listen_address must be set when the witness is configured "
          "(its logs or key_file are), e.g. 0.0.0.0:8445");
    }
    return absl::OkStatus();
  }
  if (w->key_file().empty()) {
    return refuse(
        "key_file must name the witness's Ed25519 key (PKCS#8 PEM, made "
        "with `openssl genpkey -algorithm ed25519`)");
  }
  if (w->name().empty() ||
      w->name().find_first_of(" +\n") != std::string::npos) {
    return refuse(
        "name must be set, without spaces or '+', e.g. "
        "hub.dxgate.example/witness");
  }
  if (!w->path_prefix().empty() &&
      (w->path_prefix().front() != '/' || w->path_prefix().back() == '/')) {
    return refuse(absl::StrCat("path_prefix '", w->path_prefix(),
                               "' must start with '/' and not end with one, "
                               "e.g. /witness"));
  }
  if (w->logs_size() == 0) {
    return refuse("logs must name at least one log to witness");
  }
  for (int i = 0; i < w->logs_size(); ++i) {
    v1::WitnessedLog* log = w->mutable_logs(i);
    if (log->origin().empty()) {
      return refuse(absl::StrCat("logs[", i, "].origin must be set"));
    }
    for (int j = 0; j < i; ++j) {
      if (w->logs(j).origin() == log->origin()) {
        return refuse(absl::StrCat("logs[", i, "]: the origin '", log->origin(),
                                   "' is listed twice"));
      }
    }
    if (log->vkeys_size() + log->public_key_files_size() == 0) {
      return refuse(absl::StrCat("logs[", i, "] ('", log->origin(),
                                 "') needs its keys: vkeys or "
                                 "public_key_files"));
    }
    for (auto& f : *log->mutable_public_key_files()) resolve(&f);
  }
  resolve(w->mutable_key_file());
  resolve(w->mutable_port_file());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::GatewayConfig> LoadGatewayConfig(const std::string& path) {
  v1::GatewayConfig c;
  // ${NAME}: one file for every node, each with its own environment.
  DX_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  DX_ASSIGN_OR_RETURN(text, ExpandEnvironment(text, path));
  DX_RETURN_IF_ERROR(YamlToProto(text, path, &c));
  const std::string base = DirName(path);
  auto resolve = [&](std::string* p) { *p = ResolvePath(base, *p); };
  auto required = [&](const std::string& value, const char* field) {
    return value.empty() ? absl::InvalidArgumentError(absl::StrCat(
                               path, ": field '", field, "' must be set"))
                         : absl::OkStatus();
  };
  DX_RETURN_IF_ERROR(required(c.node_id(), "node_id"));
  DX_RETURN_IF_ERROR(required(c.tls().cert_file(), "tls.cert_file"));
  DX_RETURN_IF_ERROR(required(c.tls().key_file(), "tls.key_file"));
  DX_RETURN_IF_ERROR(required(c.signing().cert_file(), "signing.cert_file"));
  DX_RETURN_IF_ERROR(required(c.signing().key_file(), "signing.key_file"));
  DX_RETURN_IF_ERROR(required(c.trust().ca_file(), "trust.ca_file"));
  DX_RETURN_IF_ERROR(required(c.data_dir(), "data_dir"));
  DX_RETURN_IF_ERROR(required(c.registry_file(), "registry_file"));
  for (std::string* p :
       {c.mutable_tls()->mutable_cert_file(),
        c.mutable_tls()->mutable_key_file(),
        c.mutable_signing()->mutable_cert_file(),
        c.mutable_signing()->mutable_key_file(),
        c.mutable_trust()->mutable_ca_file(),
        c.mutable_trust()->mutable_intermediates_file(), c.mutable_data_dir(),
        c.mutable_registry_file(), c.mutable_port_file(),
        c.mutable_policy_file(), c.mutable_metrics()->mutable_port_file(),
        c.mutable_console()->mutable_port_file()}) {
    resolve(p);
  }
  for (auto& crl : *c.mutable_trust()->mutable_crl_files()) resolve(&crl);
  if (c.listen_address().empty()) c.set_listen_address("127.0.0.1:8443");
  if (c.log_format().empty()) c.set_log_format("text");
  if (auto format = ParseLogFormat(c.log_format()); !format.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", format.status().message()));
  }
  if (!c.has_max_in_flight()) c.set_max_in_flight(4096);
  if (c.trust().crl_reload_seconds() == 0)
    c.mutable_trust()->set_crl_reload_seconds(5);
  if (!c.trust().has_require_crl()) c.mutable_trust()->set_require_crl(true);
  if (c.clock_skew_seconds() == 0) c.set_clock_skew_seconds(300);
  if (c.max_request_lifetime_seconds() == 0)
    c.set_max_request_lifetime_seconds(600);
  if (c.adapter_timeout_ms() == 0) c.set_adapter_timeout_ms(5000);
  if (c.max_request_bytes() == 0) c.set_max_request_bytes(1 << 20);
  if (c.max_response_bytes() == 0) c.set_max_response_bytes(64 << 20);
  if (c.max_records_unary() == 0) c.set_max_records_unary(10000);
  if (c.stream_batch_rows() == 0) c.set_stream_batch_rows(4096);
  v1::AuditConfig* audit = c.mutable_audit();
  if (!audit->has_sync()) audit->set_sync(true);
  if (audit->tree_head_interval_ms() == 0)
    audit->set_tree_head_interval_ms(1000);
  if (audit->tree_head_every_records() == 0)
    audit->set_tree_head_every_records(10000);
  if (!audit->has_retention_days()) audit->set_retention_days(365);
  if (!audit->has_min_free_mb()) audit->set_min_free_mb(256);
  if (!audit->has_completion_threads()) audit->set_completion_threads(2);
  if (audit->prune_chunk_records() == 0) audit->set_prune_chunk_records(10000);
  resolve(audit->mutable_log_signing()->mutable_cert_file());
  resolve(audit->mutable_log_signing()->mutable_key_file());
  if (audit->has_timestamping()) {
    DX_RETURN_IF_ERROR(
        NormalizeTimestamping(path, resolve, audit->mutable_timestamping()));
  }
  if (c.shutdown_grace_seconds() == 0) c.set_shutdown_grace_seconds(10);
  v1::ConsoleConfig* console = c.mutable_console();
  if (console->session_idle_seconds() == 0)
    console->set_session_idle_seconds(900);
  if (console->session_max_seconds() == 0)
    console->set_session_max_seconds(8 * 3600);
  v1::StatisticsPushConfig* push = c.mutable_statistics_push();
  if (!push->url().empty()) {
    if (!absl::StartsWith(push->url(), "https://")) {
      return absl::InvalidArgumentError(
          absl::StrCat(path,
                       ": statistics_push.url must be https://...: reports are "
                       "signed but not secret-free, and go over TLS only"));
    }
    if (!push->has_after_minutes()) push->set_after_minutes(5);
    if (push->max_attempts() == 0) push->set_max_attempts(5);
    if (push->initial_backoff_ms() == 0) push->set_initial_backoff_ms(1000);
    if (push->max_backoff_seconds() == 0) push->set_max_backoff_seconds(300);
    if (push->timeout_seconds() == 0) push->set_timeout_seconds(30);
    for (std::string* p : {push->mutable_ca_file(),
                           push->mutable_client_tls()->mutable_cert_file(),
                           push->mutable_client_tls()->mutable_key_file()}) {
      resolve(p);
    }
  }
  DX_RETURN_IF_ERROR(
      NormalizeFederation(path, resolve, c.mutable_federation()));
  DX_RETURN_IF_ERROR(NormalizeWitness(path, resolve, c.mutable_witness()));
  if (c.witness().log_origin().empty()) {
    c.mutable_witness()->set_log_origin(absl::StrCat(c.node_id(), "/audit"));
  }
  v1::ClusterConfig* cluster = c.mutable_cluster();
  if (cluster->etcd_endpoints_size() > 0) {
    if (cluster->prefix().empty()) cluster->set_prefix("/dx/");
    if (cluster->prefix().back() != '/')
      cluster->set_prefix(cluster->prefix() + "/");
    if (cluster->etcd_timeout_ms() == 0) cluster->set_etcd_timeout_ms(1000);
    if (cluster->max_staleness_ms() == 0) cluster->set_max_staleness_ms(5000);
    if (cluster->replay_batch() == 0) cluster->set_replay_batch(64);
    if (cluster->tree_head_publish_ms() == 0) {
      cluster->set_tree_head_publish_ms(5000);
    }
    if (cluster->checkpoint_interval_ms() == 0) {
      cluster->set_checkpoint_interval_ms(60000);
    }
    if (cluster->quota_chunk() <= 0 || cluster->quota_chunk() > 1) {
      cluster->set_quota_chunk(0.05f);
    }
    if (cluster->advertise_address().empty()) {
      cluster->set_advertise_address(c.listen_address());
    }
    for (std::string* p :
         {cluster->mutable_etcd_ca_file(), cluster->mutable_etcd_cert_file(),
          cluster->mutable_etcd_key_file()}) {
      resolve(p);
    }
  }
  return c;
}

}  // namespace dx::gateway
