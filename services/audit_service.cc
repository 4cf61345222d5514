#include "services/audit_service.h"

#include <grpcpp/grpcpp.h>
#include <rocksdb/db.h>

#include "absl/strings/str_cat.h"
#include "audit/admin.h"
#include "audit/bundle.h"
#include "audit/keys.h"
#include "audit/pruner.h"
#include "audit/record_hmac.h"
#include "audit/statistics_report.h"
#include "certs/crypto.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "rpc/status.h"

namespace dx::services {
namespace {

using certs::PrincipalKind;

constexpr uint32_t kDefaultPage = 100;
constexpr uint32_t kMaxPage = 10000;
constexpr uint64_t kExportChunk = 1000;

}  // namespace

absl::Status AuditService::RecordAdminAction(const certs::Principal& who,
                                             const std::string& action,
                                             const std::string& detail) {
  return audit::AppendAndWait(
             deps_.log,
             audit::AdminRecord(certs::ActorName(who), action, detail))
      .status();
}

// Each handler runs for the caller the gate admitted (rpc::Handle) and
// answers with its status.

grpc::Status AuditService::Query(
    grpc::ServerContext* ctx, const v1::AuditQuery* req,
    grpc::ServerWriter<v1::AuditQueryResponse>* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal& who) {
    audit::AuditReader::Filter f;
    f.from_micros = req->from_unix_micros();
    f.to_micros = req->to_unix_micros();
    f.consumer_agency = req->consumer_agency();
    f.provider_agency = req->provider_agency();
    f.dataset_id = req->dataset_id();
    f.request_id = req->request_id();
    f.decision = req->decision();
    if (req->consumer_lineage()) {
      if (req->consumer_agency().empty()) {
        return absl::InvalidArgumentError(
            "consumer_lineage needs consumer_agency (the code whose lineage "
            "to search)");
      }
      std::vector<std::string> lineage = {req->consumer_agency()};
      if (deps_.lineage) lineage = deps_.lineage(req->consumer_agency());
      if (lineage.size() > 1) {
        f.consumer_agency.clear();
        f.consumer_any = std::move(lineage);
      }
    }
    if (!req->data_subject_id().empty()) {
      f.subject_hmac =
          certs::HmacSha256(deps_.subject_hmac_key, req->data_subject_id());
      DX_RETURN_IF_ERROR(RecordAdminAction(who, "audit.query-by-subject",
                                           "searched the log by data subject"));
    }
    const uint32_t page_size =
        req->page_size() == 0 ? kDefaultPage : req->page_size();
    if (page_size > kMaxPage) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_size at most ", kMaxPage));
    }
    DX_ASSIGN_OR_RETURN(auto page,
                        reader_.Query(f, page_size, req->page_token()));
    v1::AuditQueryResponse msg;
    for (auto& rec : page.records) {
      *msg.mutable_record() = std::move(rec);
      if (!out->Write(msg)) return absl::CancelledError("");
    }
    if (!page.next_page_token.empty()) {
      msg.set_next_page_token(page.next_page_token);
      out->Write(msg);
    }
    return absl::OkStatus();
  });
}

grpc::Status AuditService::GetRecord(grpc::ServerContext* ctx,
                                     const v1::GetRecordRequest* req,
                                     v1::StoredRecord* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal&) {
    return rpc::Reply(reader_.Get(req->sequence_number()), out);
  });
}

grpc::Status AuditService::GetInclusionProof(
    grpc::ServerContext* ctx, const v1::GetInclusionProofRequest* req,
    v1::InclusionProof* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal& who) {
    if (who.kind == PrincipalKind::kAgency) {
      // An agency may prove what it was sent, not browse others' exchanges.
      auto rec = reader_.Get(req->sequence_number());
      if (!rec.ok() || rec->record().consumer_agency() != who.id) {
        return absl::PermissionDeniedError(
            "an agency may get inclusion proofs of its own exchanges only");
      }
    }
    return rpc::Reply(
        reader_.Inclusion(req->sequence_number(), req->tree_size()), out);
  });
}

grpc::Status AuditService::GetConsistencyProof(
    grpc::ServerContext* ctx, const v1::GetConsistencyProofRequest* req,
    v1::ConsistencyProof* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal&) {
    if (req->first_size() == 0) {
      return absl::InvalidArgumentError(
          "first_size must be the size of a signed tree head");
    }
    return rpc::Reply(
        reader_.Consistency(req->first_size(), req->second_size()), out);
  });
}

grpc::Status AuditService::GetCheckpointProof(
    grpc::ServerContext* ctx, const v1::GetCheckpointProofRequest* req,
    v1::CheckpointProof* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal&) {
    if (deps_.checkpoints == nullptr) {
      return absl::FailedPreconditionError(
          "this gateway is a single node, with no cluster checkpoint log: its "
          "own signed tree heads (GetTreeHead) are the root of trust");
    }
    const std::string node =
        req->node_id().empty() ? deps_.node_id : req->node_id();
    return rpc::Reply(deps_.checkpoints->ProofFor(node, req->min_tree_size()),
                      out);
  });
}

grpc::Status AuditService::GetTreeHead(grpc::ServerContext* ctx,
                                       const v1::GetTreeHeadRequest* req,
                                       v1::SignedTreeHead* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal&) {
    return rpc::Reply(reader_.TreeHead(req->tree_size()), out);
  });
}

grpc::Status AuditService::ListTreeHeads(grpc::ServerContext* ctx,
                                         const v1::ListTreeHeadsRequest* req,
                                         v1::ListTreeHeadsResponse* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal&) {
    const uint32_t limit = req->limit() == 0 ? 100000 : req->limit();
    DX_ASSIGN_OR_RETURN(auto heads,
                        reader_.ListTreeHeads(req->from_size(), limit));
    for (auto& h : heads) *out->add_tree_heads() = std::move(h);
    return absl::OkStatus();
  });
}

grpc::Status AuditService::ReadRecords(
    grpc::ServerContext* ctx, const v1::ReadRecordsRequest* req,
    grpc::ServerWriter<v1::StoredRecord>* out) {
  // Operators read records to export them before a prune.
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal&) {
    return reader_.ReadRange(
        req->from_sequence(), req->limit(),
        [&](v1::StoredRecord&& rec) { return out->Write(rec); });
  });
}

grpc::Status AuditService::GetCompactRange(grpc::ServerContext* ctx,
                                           const v1::CompactRangeRequest* req,
                                           v1::CompactRangeResponse* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal&) {
    DX_ASSIGN_OR_RETURN(auto hashes, reader_.CompactRangeHashes(req->size()));
    out->set_size(req->size());
    for (auto& h : hashes) out->add_hashes(std::move(h));
    return absl::OkStatus();
  });
}

namespace {

// Every record `f` finds, page by page, written to `out`.
absl::Status WriteAll(const audit::AuditReader& reader,
                      const audit::AuditReader::Filter& f,
                      grpc::ServerWriter<v1::StoredRecord>* out) {
  std::string token;
  do {
    DX_ASSIGN_OR_RETURN(auto page, reader.Query(f, kMaxPage, token));
    for (const auto& rec : page.records) {
      if (!out->Write(rec)) return absl::CancelledError("");
    }
    token = page.next_page_token;
  } while (!token.empty());
  return absl::OkStatus();
}

}  // namespace

grpc::Status AuditService::SubjectReport(
    grpc::ServerContext* ctx, const v1::SubjectReportRequest* req,
    grpc::ServerWriter<v1::StoredRecord>* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal& who) {
    if (req->data_subject_id().empty()) {
      return absl::InvalidArgumentError("data_subject_id is required");
    }
    DX_RETURN_IF_ERROR(RecordAdminAction(
        who, "audit.subject-report", "listed accesses to one data subject"));
    audit::AuditReader::Filter f;
    f.subject_hmac =
        certs::HmacSha256(deps_.subject_hmac_key, req->data_subject_id());
    f.from_micros = req->from_unix_micros();
    f.to_micros = req->to_unix_micros();
    return WriteAll(reader_, f, out);
  });
}

grpc::Status AuditService::RecordRecipients(
    grpc::ServerContext* ctx, const v1::RecordRecipientsRequest* req,
    grpc::ServerWriter<v1::StoredRecord>* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal& who) {
    if (req->dataset_id().empty() || req->record_key().empty()) {
      return absl::InvalidArgumentError(
          "dataset_id and record_key are required: the dataset's id and the "
          "value of its first (key) field");
    }
    DX_RETURN_IF_ERROR(RecordAdminAction(
        who, "audit.record-recipients",
        absl::StrCat("listed who received one record of ", req->dataset_id())));
    audit::AuditReader::Filter f;
    f.subject_hmac = audit::RecordHmac(deps_.subject_hmac_key,
                                       req->dataset_id(), req->record_key());
    f.dataset_id = req->dataset_id();
    f.from_micros = req->from_unix_micros();
    f.to_micros = req->to_unix_micros();
    return WriteAll(reader_, f, out);
  });
}

grpc::Status AuditService::Export(grpc::ServerContext* ctx,
                                  const v1::ExportRequest* req,
                                  grpc::ServerWriter<v1::AuditBundle>* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal& who) {
    DX_ASSIGN_OR_RETURN(auto sth, reader_.TreeHead(req->tree_size()));
    const uint64_t to =
        req->to_sequence() == 0 ? sth.tree_size() : req->to_sequence();
    if (to > sth.tree_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "to_sequence ", to, " is past the tree head of ", sth.tree_size(),
          " records the bundle is proven against"));
    }
    DX_RETURN_IF_ERROR(
        RecordAdminAction(who, "audit.export",
                          absl::StrCat("exported records [",
                                       req->from_sequence(), ", ", to, ")")));
    // In chunks, all proven against the same tree head, so no message grows
    // past gRPC's limits; the client appends their entries in order
    // (docs/AUDIT.md).
    for (uint64_t from = req->from_sequence(); from < to;
         from += kExportChunk) {
      DX_ASSIGN_OR_RETURN(
          auto bundle,
          audit::BuildBundle(reader_, from, std::min(to, from + kExportChunk),
                             deps_.chain_der, deps_.node_id, sth.tree_size()));
      if (!out->Write(bundle)) return absl::CancelledError("");
    }
    return absl::OkStatus();
  });
}

grpc::Status AuditService::Prune(grpc::ServerContext* ctx,
                                 const v1::PruneRequest* req,
                                 v1::PruneResponse* out) {
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal& who) {
    const absl::Time before = absl::FromUnixMicros(req->before_unix_micros());
    const absl::Time limit = deps_.clock->Now() - deps_.retention;
    if (before > limit) {
      return absl::FailedPreconditionError(
          absl::StrCat("records younger than the retention age (",
                       absl::FormatDuration(deps_.retention),
                       ") cannot be pruned; choose a time before ",
                       absl::FormatTime(limit)));
    }
    if (req->export_sha256().size() != 32) {
      return absl::FailedPreconditionError(
          "export the records first and give the bundle's SHA-256 (dxctl "
          "audit prune does both)");
    }
    // In bounded chunks, between an intent and a result record
    // (audit/pruner.h). The tree and tree heads stay: proofs of the
    // remaining records, and consistency proofs, still work.
    return rpc::Reply(deps_.pruner->Prune(certs::ActorName(who), before,
                                          req->export_sha256()),
                      out);
  });
}

grpc::Status AuditService::StatisticsReport(
    grpc::ServerContext* ctx, const v1::StatisticsReportRequest* req,
    v1::SignedStatisticsReport* out) {
  // Counts only, no personal data: not recorded as a read of it.
  return rpc::Handle(deps_.gate->Caller(ctx), [&](const certs::Principal&) {
    if (deps_.log_signer == nullptr) {
      return absl::FailedPreconditionError(
          "this gateway has no log signing key: statistics reports are "
          "signed with it");
    }
    return rpc::Reply(
        audit::BuildStatisticsReport(reader_, deps_.db, *deps_.log_signer,
                                     deps_.node_id, *req, deps_.clock->Now()),
        out);
  });
}

}  // namespace dx::services
