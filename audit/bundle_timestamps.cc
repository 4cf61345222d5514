#include "audit/bundle_timestamps.h"

#include "absl/strings/str_cat.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "certs/crypto.h"
#include "timestamp/rfc3161.h"

namespace dx::audit {
namespace {

std::string CheckOne(const v1::AuditBundle& bundle,
                     const v1::TreeHeadTimestamp& stamp,
                     const std::vector<std::string>& roots_der,
                     absl::string_view tsa_roots_pem, TimestampCheck* out) {
  const v1::SignedTreeHead& head = stamp.tree_head();
  const v1::SignedTreeHead& sth = bundle.tree_head();
  if (bundle.certificates().empty()) return "the bundle holds no certificate";
  std::vector<std::string> intermediates(bundle.certificates().begin() + 1,
                                         bundle.certificates().end());
  std::vector<std::string> roots = roots_der;
  if (roots.empty()) roots.push_back(bundle.certificates().rbegin()[0]);
  auto key =
      certs::VerifyChainAt(head.signer_certificate(), intermediates, roots,
                           static_cast<int64_t>(head.timestamp_ms() / 1000));
  if (!key.ok()) {
    return absl::StrCat("its tree head's certificate: ",
                        key.status().message());
  }
  if (!VerifyTreeHead(head, key->get())) {
    return "its tree head's signature does not verify";
  }
  if (head.tree_size() > sth.tree_size()) {
    return "its tree head is larger than the bundle's";
  }
  std::vector<std::string> path(stamp.consistency_path().begin(),
                                stamp.consistency_path().end());
  if (!VerifyConsistency(head.tree_size(), sth.tree_size(), head.root_hash(),
                         sth.root_hash(), path)) {
    return "its tree head is not a prefix of the bundle's (consistency path)";
  }
  if (tsa_roots_pem.empty()) return "";
  auto token = timestamp::VerifyToken(
      stamp.token(), certs::Sha256(StampedBytes(head)), tsa_roots_pem);
  if (!token.ok()) {
    return absl::StrCat("its token: ", token.status().message());
  }
  out->token_checked = true;
  out->time = token->time;
  if (absl::ToUnixMicros(token->time) != stamp.time_unix_micros()) {
    return "its token's time is not the time the bundle states";
  }
  return "";
}

}  // namespace

std::vector<TimestampCheck> CheckBundleTimestamps(
    const v1::AuditBundle& bundle, const std::vector<std::string>& roots_der,
    absl::string_view tsa_roots_pem) {
  std::vector<TimestampCheck> out;
  for (const v1::TreeHeadTimestamp& stamp : bundle.timestamps()) {
    TimestampCheck c;
    c.tree_size = stamp.tree_head().tree_size();
    c.time = absl::FromUnixMicros(stamp.time_unix_micros());
    c.problem = CheckOne(bundle, stamp, roots_der, tsa_roots_pem, &c);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace dx::audit
