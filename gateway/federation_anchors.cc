#include "gateway/federation_anchors.h"

#include <rocksdb/db.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "audit/state_db.h"
#include "certs/crypto.h"
#include "common/bytes.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace dx::gateway {
namespace {

// "<serial> <sha256 hex>" of the anchor in force, per operator.
std::string KeyOf(const std::string& operator_platform_id) {
  return absl::StrCat("federation/anchor/", operator_platform_id);
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<std::unique_ptr<FederationAnchors>> FederationAnchors::Load(
    Deps deps) {
  std::unique_ptr<FederationAnchors> out(new FederationAnchors(deps));
  std::vector<Held> held;
  for (int i = 0; i < deps.config->anchors_size(); ++i) {
    DX_ASSIGN_OR_RETURN(Held h, out->Read(i, nullptr));
    DX_RETURN_IF_ERROR(out->Keep(i, h));
    held.push_back(std::move(h));
  }
  absl::MutexLock lock(&out->mu_);
  out->held_ = std::move(held);
  return out;
}

absl::StatusOr<FederationAnchors::Held> FederationAnchors::Read(
    size_t index, const Held* in_force) const {
  const v1::FederationAnchorFile& f = deps_.config->anchors(index);
  const std::string name = absl::StrCat(
      "the anchor of ", f.operator_platform_id(), " (", f.anchor_file(), ")");
  // What is in force: this process's, else what the state database keeps
  // from an earlier run.
  uint64_t min_serial = 0;
  std::string held_sha256;
  if (in_force != nullptr) {
    min_serial = in_force->anchor->serial();
    held_sha256 = in_force->sha256;
  } else {
    std::string kept;
    rocksdb::Status s = deps_.db->db()->Get(
        rocksdb::ReadOptions(), deps_.db->cf(audit::Cf::kMeta),
        KeyOf(f.operator_platform_id()), &kept);
    if (!s.ok() && !s.IsNotFound()) {
      return absl::UnavailableError(absl::StrCat(
          name, ": cannot read the serial in force: ", s.ToString()));
    }
    if (s.ok()) {
      std::vector<std::string> parts = absl::StrSplit(kept, ' ');
      if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &min_serial)) {
        return absl::DataLossError(absl::StrCat(
            name, ": the serial kept in the state database is unreadable ('",
            kept, "')"));
      }
      held_sha256 = parts[1];
    }
  }
  DX_ASSIGN_OR_RETURN(std::string bytes, ReadFile(f.anchor_file()));
  federation::Anchor::Options o;
  o.operator_platform_id = f.operator_platform_id();
  o.now = deps_.clock->Now();
  o.min_serial = min_serial;
  auto anchor = federation::Anchor::LoadFiles(
      f.anchor_file(), f.signature_file(), f.operator_certificate_file(), o);
  if (!anchor.ok()) {
    return absl::Status(anchor.status().code(),
                        absl::StrCat(name, ": ", anchor.status().message()));
  }
  Held h;
  h.sha256 = HexEncode(certs::Sha256(bytes));
  if (anchor->serial() == min_serial && !held_sha256.empty() &&
      h.sha256 != held_sha256) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, ": serial ", min_serial,
        " is the one in force but the file differs from it: an anchor "
        "issued again must carry a higher serial"));
  }
  h.anchor = std::make_shared<const federation::Anchor>(*std::move(anchor));
  return h;
}

absl::Status FederationAnchors::Keep(size_t index, const Held& held) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s = deps_.db->db()->Put(
      wo, deps_.db->cf(audit::Cf::kMeta),
      KeyOf(deps_.config->anchors(index).operator_platform_id()),
      absl::StrCat(held.anchor->serial(), " ", held.sha256));
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot keep the serial of the federation anchor of ",
                     deps_.config->anchors(index).operator_platform_id(), ": ",
                     s.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FederationAnchors::Reload(size_t index) {
  Held in_force;
  {
    absl::MutexLock lock(&mu_);
    in_force = held_.at(index);
  }
  DX_ASSIGN_OR_RETURN(Held next, Read(index, &in_force));
  if (next.sha256 == in_force.sha256) return std::string("unchanged");
  DX_RETURN_IF_ERROR(Keep(index, next));
  const std::string what =
      absl::StrCat("serial ", in_force.anchor->serial(), " -> ",
                   next.anchor->serial(), ", ", next.anchor->platforms().size(),
                   " platforms, expires ", Rfc3339(next.anchor->expires_at()));
  absl::MutexLock lock(&mu_);
  held_[index] = std::move(next);
  return what;
}

std::shared_ptr<const federation::Anchor> FederationAnchors::Get(
    const std::string& operator_platform_id) const {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < held_.size(); ++i) {
    if (deps_.config->anchors(i).operator_platform_id() ==
        operator_platform_id) {
      return held_[i].anchor;
    }
  }
  return nullptr;
}

std::vector<std::shared_ptr<const federation::Anchor>> FederationAnchors::All()
    const {
  std::vector<std::shared_ptr<const federation::Anchor>> out;
  absl::MutexLock lock(&mu_);
  for (const Held& h : held_) out.push_back(h.anchor);
  return out;
}

std::vector<certs::Expiry> FederationAnchors::Expiries() const {
  std::vector<certs::Expiry> out;
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < held_.size(); ++i) {
    const v1::FederationAnchorFile& f = deps_.config->anchors(i);
    out.push_back({"federation anchor", f.operator_platform_id(),
                   held_[i].anchor->expires_at()});
    auto op = certs::CertificateExpiries(f.operator_certificate_file(),
                                         "federation operator");
    if (op.ok() && !op->empty()) out.push_back(op->front());
  }
  return out;
}

std::vector<std::string> FederationAnchors::Describe() const {
  std::vector<std::string> out;
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < held_.size(); ++i) {
    const federation::Anchor& a = *held_[i].anchor;
    std::vector<std::string> ids;
    for (const auto& p : a.platforms()) ids.push_back(p.id);
    out.push_back(absl::StrCat(
        "anchor of ", deps_.config->anchors(i).operator_platform_id(),
        ", serial ", a.serial(), ", expires ", Rfc3339(a.expires_at()), ": ",
        absl::StrJoin(ids, ", ")));
  }
  return out;
}

}  // namespace dx::gateway
