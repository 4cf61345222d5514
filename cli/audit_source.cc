#include "cli/audit_source.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "audit/audit_reader.h"
#include "audit/bundle.h"
#include "audit/record_hmac.h"
#include "audit/state_db.h"
#include "certs/crypto.h"
#include "cli/pki_layout.h"
#include "cli/remote.h"
#include "common/data_dir.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "dx/v1/audit.grpc.pb.h"

namespace dx::cli {
namespace {

// Reads the log straight from a data folder, read-only.
class LocalSource final : public AuditSource {
 public:
  LocalSource(std::unique_ptr<audit::StateDb> db, std::string subject_key,
              std::vector<std::string> chain_der)
      : db_(std::move(db)),
        reader_(db_.get()),
        subject_key_(std::move(subject_key)),
        chain_der_(std::move(chain_der)) {}

  absl::Status QueryPage(const v1::AuditQuery& q, const RecordFn& emit,
                         std::string* next_token) override {
    audit::AuditReader::Filter f;
    f.from_micros = q.from_unix_micros();
    f.to_micros = q.to_unix_micros();
    f.consumer_agency = q.consumer_agency();
    f.provider_agency = q.provider_agency();
    f.dataset_id = q.dataset_id();
    f.request_id = q.request_id();
    f.decision = q.decision();
    if (q.consumer_lineage()) {
      return absl::FailedPreconditionError(
          "--lineage needs the registry in force: ask a gateway (--gateway) "
          "instead of --data-dir");
    }
    if (!q.data_subject_id().empty()) {
      DX_ASSIGN_OR_RETURN(f.subject_hmac, SubjectHmac(q.data_subject_id()));
    }
    DX_ASSIGN_OR_RETURN(
        auto page,
        reader_.Query(f, q.page_size() ? q.page_size() : 100, q.page_token()));
    for (const auto& r : page.records) {
      if (!emit(r)) break;
    }
    *next_token = page.next_page_token;
    return absl::OkStatus();
  }
  absl::StatusOr<v1::StoredRecord> Get(uint64_t seq) override {
    return reader_.Get(seq);
  }
  absl::StatusOr<v1::InclusionProof> Inclusion(uint64_t seq,
                                               uint64_t size) override {
    return reader_.Inclusion(seq, size);
  }
  absl::StatusOr<v1::ConsistencyProof> Consistency(uint64_t a,
                                                   uint64_t b) override {
    return reader_.Consistency(a, b);
  }
  absl::StatusOr<v1::SignedTreeHead> TreeHead(uint64_t size) override {
    return reader_.TreeHead(size);
  }
  absl::StatusOr<std::vector<v1::SignedTreeHead>> TreeHeads() override {
    return reader_.ListTreeHeads(0, 0);
  }
  absl::Status ReadRecords(uint64_t from, uint64_t limit,
                           const RecordFn& emit) override {
    return reader_.ReadRange(from, limit,
                             [&](v1::StoredRecord&& r) { return emit(r); });
  }
  absl::StatusOr<std::vector<std::string>> CompactRange(
      uint64_t size) override {
    return reader_.CompactRangeHashes(size);
  }
  absl::Status RecordRecipients(const v1::RecordRecipientsRequest& req,
                                const RecordFn& emit) override {
    if (subject_key_.size() != 32) {
      return absl::FailedPreconditionError(
          "the data folder holds no subject-hmac.key; ask the gateway "
          "(--gateway)");
    }
    audit::AuditReader::Filter f;
    f.subject_hmac =
        audit::RecordHmac(subject_key_, req.dataset_id(), req.record_key());
    f.dataset_id = req.dataset_id();
    f.from_micros = req.from_unix_micros();
    f.to_micros = req.to_unix_micros();
    std::string token;
    do {
      DX_ASSIGN_OR_RETURN(auto page, reader_.Query(f, 10000, token));
      for (const auto& r : page.records) {
        if (!emit(r)) return absl::OkStatus();
      }
      token = page.next_page_token;
    } while (!token.empty());
    return absl::OkStatus();
  }
  absl::Status SubjectReport(const v1::SubjectReportRequest& req,
                             const RecordFn& emit) override {
    v1::AuditQuery q;
    q.set_data_subject_id(req.data_subject_id());
    q.set_from_unix_micros(req.from_unix_micros());
    q.set_to_unix_micros(req.to_unix_micros());
    q.set_page_size(10000);
    std::string token;
    do {
      q.set_page_token(token);
      DX_RETURN_IF_ERROR(QueryPage(q, emit, &token));
    } while (!token.empty());
    return absl::OkStatus();
  }
  absl::StatusOr<v1::AuditBundle> Export(uint64_t from, uint64_t to,
                                         uint64_t tree_size) override {
    return audit::BuildBundle(reader_, from, to, chain_der_, "", tree_size);
  }
  absl::StatusOr<v1::PruneResponse> Prune(const v1::PruneRequest&) override {
    return absl::FailedPreconditionError(
        "prune goes through the running gateway (--gateway), as an operator");
  }
  absl::StatusOr<v1::CheckpointProof> Checkpoint(const std::string&,
                                                 uint64_t) override {
    return absl::FailedPreconditionError(
        "the cluster checkpoint log is in etcd: ask a gateway (--gateway)");
  }

 private:
  absl::StatusOr<std::string> SubjectHmac(const std::string& id) {
    if (subject_key_.size() != 32) {
      return absl::FailedPreconditionError(
          "the data folder holds no subject-hmac.key; search by subject "
          "through the gateway (--gateway)");
    }
    return certs::HmacSha256(subject_key_, id);
  }

  std::unique_ptr<audit::StateDb> db_;
  audit::AuditReader reader_;
  std::string subject_key_;
  std::vector<std::string> chain_der_;
};

// Reads the log through a gateway's Audit service.
class RemoteSource final : public AuditSource {
 public:
  explicit RemoteSource(RemoteNode node) : audit_(std::move(node)) {}

  absl::Status QueryPage(const v1::AuditQuery& q, const RecordFn& emit,
                         std::string* next_token) override {
    auto ctx = RemoteNode::NewContext(kCallTimeout);
    auto reader = audit_.stub().Query(ctx.get(), q);
    v1::AuditQueryResponse msg;
    next_token->clear();
    bool want = true;
    while (reader->Read(&msg)) {
      if (msg.has_record() && want) want = emit(msg.record());
      if (!msg.next_page_token().empty()) *next_token = msg.next_page_token();
    }
    return FromGrpc(reader->Finish());
  }
  absl::StatusOr<v1::StoredRecord> Get(uint64_t seq) override {
    v1::GetRecordRequest req;
    req.set_sequence_number(seq);
    v1::StoredRecord out;
    DX_RETURN_IF_ERROR(
        audit_.Call(&v1::Audit::Stub::GetRecord, req, &out, kCallTimeout));
    return out;
  }
  absl::StatusOr<v1::InclusionProof> Inclusion(uint64_t seq,
                                               uint64_t size) override {
    v1::GetInclusionProofRequest req;
    req.set_sequence_number(seq);
    req.set_tree_size(size);
    v1::InclusionProof out;
    DX_RETURN_IF_ERROR(audit_.Call(&v1::Audit::Stub::GetInclusionProof, req,
                                   &out, kCallTimeout));
    return out;
  }
  absl::StatusOr<v1::ConsistencyProof> Consistency(uint64_t a,
                                                   uint64_t b) override {
    v1::GetConsistencyProofRequest req;
    req.set_first_size(a);
    req.set_second_size(b);
    v1::ConsistencyProof out;
    DX_RETURN_IF_ERROR(audit_.Call(&v1::Audit::Stub::GetConsistencyProof, req,
                                   &out, kCallTimeout));
    return out;
  }
  absl::StatusOr<v1::SignedTreeHead> TreeHead(uint64_t size) override {
    v1::GetTreeHeadRequest req;
    req.set_tree_size(size);
    v1::SignedTreeHead out;
    DX_RETURN_IF_ERROR(
        audit_.Call(&v1::Audit::Stub::GetTreeHead, req, &out, kCallTimeout));
    return out;
  }
  absl::StatusOr<std::vector<v1::SignedTreeHead>> TreeHeads() override {
    v1::ListTreeHeadsResponse out;
    DX_RETURN_IF_ERROR(audit_.Call(&v1::Audit::Stub::ListTreeHeads,
                                   v1::ListTreeHeadsRequest(), &out,
                                   kCallTimeout));
    return std::vector<v1::SignedTreeHead>(out.tree_heads().begin(),
                                           out.tree_heads().end());
  }
  absl::Status ReadRecords(uint64_t from, uint64_t limit,
                           const RecordFn& emit) override {
    auto ctx = RemoteNode::NewContext(kStreamTimeout);
    v1::ReadRecordsRequest req;
    req.set_from_sequence(from);
    req.set_limit(limit);
    auto reader = audit_.stub().ReadRecords(ctx.get(), req);
    v1::StoredRecord rec;
    while (reader->Read(&rec)) {
      if (!emit(rec)) {
        ctx->TryCancel();
        break;
      }
    }
    grpc::Status s = reader->Finish();
    return s.error_code() == grpc::StatusCode::CANCELLED ? absl::OkStatus()
                                                         : FromGrpc(s);
  }
  absl::StatusOr<std::vector<std::string>> CompactRange(
      uint64_t size) override {
    v1::CompactRangeRequest req;
    req.set_size(size);
    v1::CompactRangeResponse out;
    DX_RETURN_IF_ERROR(audit_.Call(&v1::Audit::Stub::GetCompactRange, req, &out,
                                   kCallTimeout));
    return std::vector<std::string>(out.hashes().begin(), out.hashes().end());
  }
  absl::Status RecordRecipients(const v1::RecordRecipientsRequest& req,
                                const RecordFn& emit) override {
    auto ctx = RemoteNode::NewContext(kStreamTimeout);
    auto reader = audit_.stub().RecordRecipients(ctx.get(), req);
    v1::StoredRecord rec;
    bool want = true;
    while (reader->Read(&rec)) {
      if (want) want = emit(rec);
    }
    return FromGrpc(reader->Finish());
  }
  absl::Status SubjectReport(const v1::SubjectReportRequest& req,
                             const RecordFn& emit) override {
    auto ctx = RemoteNode::NewContext(kStreamTimeout);
    auto reader = audit_.stub().SubjectReport(ctx.get(), req);
    v1::StoredRecord rec;
    bool want = true;
    while (reader->Read(&rec)) {
      if (want) want = emit(rec);
    }
    return FromGrpc(reader->Finish());
  }
  absl::StatusOr<v1::AuditBundle> Export(uint64_t from, uint64_t to,
                                         uint64_t tree_size) override {
    auto ctx = RemoteNode::NewContext(kStreamTimeout);
    v1::ExportRequest req;
    req.set_from_sequence(from);
    req.set_to_sequence(to);
    req.set_tree_size(tree_size);
    auto reader = audit_.stub().Export(ctx.get(), req);
    v1::AuditBundle merged, chunk;
    while (reader->Read(&chunk)) {
      if (merged.certificates().empty()) {
        auto entries = std::move(*chunk.mutable_entries());
        merged = std::move(chunk);
        *merged.mutable_entries() = std::move(entries);
      } else {
        for (auto& e : *chunk.mutable_entries()) {
          *merged.add_entries() = std::move(e);
        }
        // Each chunk carries the stamps for the records up to its end: the
        // last chunk's are the whole bundle's.
        *merged.mutable_timestamps() = std::move(*chunk.mutable_timestamps());
      }
    }
    DX_RETURN_IF_ERROR(FromGrpc(reader->Finish()));
    return merged;
  }
  absl::StatusOr<v1::PruneResponse> Prune(
      const v1::PruneRequest& req) override {
    v1::PruneResponse out;
    DX_RETURN_IF_ERROR(
        audit_.Call(&v1::Audit::Stub::Prune, req, &out, kCallTimeout));
    return out;
  }

  absl::StatusOr<v1::CheckpointProof> Checkpoint(
      const std::string& node, uint64_t min_tree_size) override {
    v1::GetCheckpointProofRequest req;
    req.set_node_id(node);
    req.set_min_tree_size(min_tree_size);
    v1::CheckpointProof out;
    DX_RETURN_IF_ERROR(audit_.Call(&v1::Audit::Stub::GetCheckpointProof, req,
                                   &out, kCallTimeout));
    return out;
  }

 private:
  // A call never hangs on a node that does not answer.
  static constexpr absl::Duration kCallTimeout = absl::Seconds(30);
  static constexpr absl::Duration kStreamTimeout = absl::Minutes(30);
  RemoteService<v1::Audit> audit_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AuditSource>> OpenAuditSource(const Flags& f) {
  const PkiLayout pki{f.Get("pki")};
  std::vector<std::string> chain_der;
  for (const std::string& file :
       {f.Get("intermediates", pki.dir.empty() ? "" : pki.intermediates()),
        f.Get("ca", pki.dir.empty() ? "" : pki.root_ca())}) {
    if (file.empty()) continue;
    DX_ASSIGN_OR_RETURN(std::string pem, ReadFile(file));
    DX_ASSIGN_OR_RETURN(auto ders, certs::PemBundleToDer(pem));
    chain_der.insert(chain_der.end(), ders.begin(), ders.end());
  }
  if (f.Has("data-dir")) {
    audit::StateDb::Options o;
    o.path = DataDir(f.Get("data-dir")).state();
    o.read_only = true;
    DX_ASSIGN_OR_RETURN(auto db, audit::StateDb::Open(o));
    auto key = ReadFile(DataDir(f.Get("data-dir")).subject_key());
    return std::unique_ptr<AuditSource>(new LocalSource(
        std::move(db), key.ok() ? *key : "", std::move(chain_der)));
  }
  if (!f.Has("gateway")) {
    return absl::InvalidArgumentError(
        "say where the log is: --gateway HOST:PORT (with --pki DIR --person "
        "NAME, or --ca --cert --key) or --data-dir DIR");
  }
  DX_ASSIGN_OR_RETURN(RemoteNode node, RemoteNode::Open(f));
  return std::unique_ptr<AuditSource>(new RemoteSource(std::move(node)));
}

std::unique_ptr<AuditSource> RemoteAuditSource(RemoteNode node) {
  return std::make_unique<RemoteSource>(std::move(node));
}

}  // namespace dx::cli
