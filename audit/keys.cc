#include "audit/keys.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace dx::audit {

std::string TreeNodeKey(int level, uint64_t index) {
  return absl::StrCat(std::string(1, static_cast<char>(level)),
                      EncodeBigEndian64(index));
}

std::string IndexPrefix(Cf index, absl::string_view value) {
  switch (index) {
    case Cf::kIdxTime:
      return "";
    case Cf::kIdxSubject:
      return std::string(value);  // fixed 32 bytes
    case Cf::kIdxDecision:
      return std::string(value.substr(0, 1));
    default:
      return absl::StrCat(value, std::string(1, '\0'));
  }
}

std::pair<std::string, std::string> TimeRange(const std::string& prefix,
                                              int64_t from_micros,
                                              int64_t to_micros) {
  const uint64_t from =
      from_micros <= 0 ? 0 : static_cast<uint64_t>(from_micros);
  const uint64_t to = to_micros <= 0 ? std::numeric_limits<uint64_t>::max()
                                     : static_cast<uint64_t>(to_micros);
  return {prefix + EncodeBigEndian64(from), prefix + EncodeBigEndian64(to)};
}

uint64_t SequenceOfIndexKey(absl::string_view key) {
  return key.size() < 8 ? 0 : DecodeBigEndian64(key.substr(key.size() - 8));
}

std::vector<std::pair<Cf, std::string>> IndexEntries(const v1::AuditRecord& r,
                                                     uint64_t seq) {
  const std::string time_seq =
      EncodeBigEndian64(static_cast<uint64_t>(r.time_unix_micros())) +
      EncodeBigEndian64(seq);
  std::vector<std::pair<Cf, std::string>> out;
  out.emplace_back(Cf::kIdxTime, time_seq);
  if (!r.consumer_agency().empty()) {
    out.emplace_back(
        Cf::kIdxConsumer,
        IndexPrefix(Cf::kIdxConsumer, r.consumer_agency()) + time_seq);
  }
  if (!r.provider_agency().empty()) {
    out.emplace_back(
        Cf::kIdxProvider,
        IndexPrefix(Cf::kIdxProvider, r.provider_agency()) + time_seq);
  }
  if (!r.dataset_id().empty()) {
    out.emplace_back(Cf::kIdxDataset,
                     IndexPrefix(Cf::kIdxDataset, r.dataset_id()) + time_seq);
  }
  if (r.data_subject_hmac().size() == 32) {
    out.emplace_back(Cf::kIdxSubject, r.data_subject_hmac() + time_seq);
  }
  for (const std::string& h : r.event_subject_hmacs()) {
    if (h.size() == 32 && h != r.data_subject_hmac()) {
      out.emplace_back(Cf::kIdxSubject, h + time_seq);
    }
  }
  // Delivered records share the subject index: their hashes are of another
  // domain (audit/record_hmac.h), never equal to a subject's.
  for (const std::string& h : r.delivered_record_hmacs()) {
    if (h.size() == 32) out.emplace_back(Cf::kIdxSubject, h + time_seq);
  }
  if (!r.request_id().empty()) {
    out.emplace_back(Cf::kIdxRequest,
                     absl::StrCat(IndexPrefix(Cf::kIdxRequest, r.request_id()),
                                  r.consumer_agency(), std::string(1, '\0'),
                                  EncodeBigEndian64(seq)));
  }
  out.emplace_back(Cf::kIdxDecision,
                   std::string(1, static_cast<char>(r.decision())) + time_seq);
  return out;
}

}  // namespace dx::audit
