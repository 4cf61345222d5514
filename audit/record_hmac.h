// Which records a consumer received, without storing their keys: the keyed
// hash of a delivered record's key (AuditRecord.delivered_record_hmacs),
// and a bounded, distinct accumulator of them for one answer or batch.
//
// The hash is HMAC-SHA256 under the audit subject key of
// "dx-record" 0x00 dataset_id 0x00 record_key: bound to the dataset (one
// key in two datasets is two records) and never equal to a data subject's
// hash (HMAC of the bare id), so the two share the subject index without
// a subject's report finding a record or the other way round. The key is
// held by the gateway only: from the log alone nobody learns which keys
// were delivered, and only a caller of the audit service who names a key
// learns who received it (RecordRecipients).
#ifndef DX_AUDIT_RECORD_HMAC_H_
#define DX_AUDIT_RECORD_HMAC_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "dx/v1/audit.pb.h"

namespace dx::audit {

std::string RecordHmac(absl::string_view subject_key,
                       absl::string_view dataset_id,
                       absl::string_view record_key);

// The delivered records of one audit record: distinct, at most kMax (then
// `truncated`). Not thread-safe; one per answer or batch.
class DeliveredRecords {
 public:
  static constexpr size_t kMax = 10000;

  DeliveredRecords(std::string subject_key, std::string dataset_id)
      : subject_key_(std::move(subject_key)),
        dataset_id_(std::move(dataset_id)) {}

  void Add(absl::string_view record_key);
  // True once kMax records are held: more are only counted as truncated,
  // so a caller may stop looking at keys (MarkMore instead).
  bool full() const { return seen_.size() >= kMax; }
  void MarkMore() { truncated_ = true; }
  // Sets delivered_record_hmacs (sorted) and delivered_records_truncated.
  void FillInto(v1::AuditRecord* record) const;
  size_t size() const { return seen_.size(); }

 private:
  const std::string subject_key_;
  const std::string dataset_id_;
  absl::flat_hash_set<std::string> seen_;
  bool truncated_ = false;
};

}  // namespace dx::audit

#endif  // DX_AUDIT_RECORD_HMAC_H_
