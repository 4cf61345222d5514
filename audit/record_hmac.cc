#include "audit/record_hmac.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "certs/crypto.h"

namespace dx::audit {

std::string RecordHmac(absl::string_view subject_key,
                       absl::string_view dataset_id,
                       absl::string_view record_key) {
  return certs::HmacSha256(
      subject_key,
      absl::StrCat("dx-record", absl::string_view("\0", 1), dataset_id,
                   absl::string_view("\0", 1), record_key));
}

void DeliveredRecords::Add(absl::string_view record_key) {
  if (seen_.size() >= kMax) {
    truncated_ = true;
    return;
  }
  seen_.insert(RecordHmac(subject_key_, dataset_id_, record_key));
}

void DeliveredRecords::FillInto(v1::AuditRecord* record) const {
  std::vector<std::string> sorted(seen_.begin(), seen_.end());
  std::sort(sorted.begin(), sorted.end());
  record->clear_delivered_record_hmacs();
  for (auto& h : sorted) record->add_delivered_record_hmacs(std::move(h));
  record->set_delivered_records_truncated(truncated_);
}

}  // namespace dx::audit
