#include "gateway/backup.h"

#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "audit/audit_reader.h"
#include "audit/state_db.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace dx::gateway {
namespace {

namespace fs = std::filesystem;

absl::Status CheckOutDir(const std::string& out_dir) {
  const fs::path p(out_dir);
  std::error_code ec;
  if (out_dir.empty() || !p.is_absolute()) {
    return absl::InvalidArgumentError(
        absl::StrCat("out_dir '", out_dir,
                     "' must be an absolute path on the gateway's host (e.g. "
                     "/var/backups/dxgate/2026-12-01)"));
  }
  if (fs::exists(p, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(
        out_dir, " exists already; name a new folder for each backup"));
  }
  if (!fs::is_directory(p.parent_path(), ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        p.parent_path().string(), " is not a folder on the gateway's host"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::BackupManifest> Take(const BackupSources& src,
                                        const std::string& out_dir) {
  v1::BackupManifest m;
  m.set_node_id(src.node_id);
  m.set_out_dir(out_dir);
  m.set_created_unix_micros(absl::ToUnixMicros(src.clock->Now()));
  if (src.checkpoint_policy) {
    const uint64_t revision = src.policy_revision ? src.policy_revision() : 0;
    DX_RETURN_IF_ERROR(src.checkpoint_policy(out_dir + "/policy"));
    m.set_policy_included(true);
    m.set_policy_revision(revision);
  }
  DX_RETURN_IF_ERROR(src.state_db->Checkpoint(out_dir + "/state"));
  std::error_code ec;
  if (!src.subject_key_file.empty() && fs::exists(src.subject_key_file, ec)) {
    DX_ASSIGN_OR_RETURN(std::string key, ReadFile(src.subject_key_file));
    const std::string to = out_dir + "/subject-hmac.key";
    DX_RETURN_IF_ERROR(WriteFileAtomically(to, key));
    chmod(to.c_str(), 0600);
  }
  {
    // What the copy holds, read from the copy.
    audit::StateDb::Options o;
    o.path = out_dir + "/state";
    o.read_only = true;
    o.block_cache_bytes = size_t{8} << 20;
    DX_ASSIGN_OR_RETURN(auto copy, audit::StateDb::Open(o));
    audit::AuditReader reader(copy.get());
    DX_ASSIGN_OR_RETURN(uint64_t records, reader.TreeSize());
    m.set_audit_records(records);
    if (auto head = reader.TreeHead(0); head.ok()) {
      *m.mutable_tree_head() = *std::move(head);
    }
  }
  for (auto it = fs::recursive_directory_iterator(out_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    v1::BackupManifest::File* f = m.add_files();
    f->set_path(fs::relative(it->path(), out_dir, ec).string());
    f->set_bytes(it->file_size(ec));
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(m, &json, opts).ok()) {
    return absl::InternalError("cannot write the manifest as JSON");
  }
  DX_RETURN_IF_ERROR(WriteFileAtomically(out_dir + "/manifest.json", json));
  return m;
}

}  // namespace

absl::StatusOr<v1::BackupManifest> TakeBackup(const BackupSources& src,
                                              const std::string& out_dir) {
  DX_RETURN_IF_ERROR(CheckOutDir(out_dir));
  std::error_code ec;
  if (!fs::create_directory(out_dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", out_dir, ": ", ec.message()));
  }
  chmod(out_dir.c_str(), 0700);  // it holds the subject-hash key
  auto m = Take(src, out_dir);
  if (!m.ok()) fs::remove_all(out_dir, ec);
  return m;
}

}  // namespace dx::gateway
