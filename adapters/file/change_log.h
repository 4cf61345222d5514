// ChangeLogSource: a dataset served from a file (look-ups, by the wrapped
// DataSource) whose changes are followed in an append-only JSON Lines change
// log, for subscriptions. One change a line:
//   {"position": 7, "key": "001099000123", "kind": "update",
//    "values": {"citizen_id": "001099000123", "full_name": "..."},
//    "commit_time": "2026-12-07T06:00:00Z"}
// Positions are integers that increase from line to line; "kind" is insert,
// update, delete (no values) or correction; an update or a correction may
// carry "previous", the record as it was (the gateway uses it to tell a
// consumer whose row filter the record leaves). An operator who prunes old
// changes rewrites the log starting with a retention marker,
// {"pruned_through": N}, the last position dropped: a feed asked to read
// after a position below N answers OUT_OF_RANGE (the consumer must
// resynchronise), never a silent gap. The file is read from the
// start for each feed and then polled for new lines; a line is read only
// once it ends with a newline (a writer may be half-way through it).
// Thread-safe: each feed reads the file on its own.
#ifndef DX_ADAPTERS_FILE_CHANGE_LOG_H_
#define DX_ADAPTERS_FILE_CHANGE_LOG_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "adapters/sdk/data_source.h"

namespace dx::adapters {

// One line of a change log, parsed. `values` follow `columns` (missing
// values are empty and listed in row.nulls).
absl::StatusOr<v1::ProviderChange> ParseChangeLine(
    absl::string_view line, const std::vector<std::string>& columns);

// The N of a retention marker line {"pruned_through": N}; nullopt for any
// other line (a change); INVALID_ARGUMENT for a malformed marker.
absl::StatusOr<std::optional<uint64_t>> PrunedThrough(absl::string_view line);

class ChangeLogSource final : public DataSource {
 public:
  // The longest line accepted: a longer one stops the feed (a change log
  // holds one record's change a line).
  static constexpr size_t kMaxLineBytes = 1 << 20;
  // A batch is sent once its changes reach this many bytes, whatever
  // max_changes allows: 256 lines of 1 MiB would pass the gateway's 64 MiB
  // receive limit and stall the feed on a message it cannot take.
  static constexpr size_t kMaxBatchBytes = 8 << 20;

  ChangeLogSource(std::unique_ptr<DataSource> base, std::string path,
                  absl::Duration poll)
      : base_(std::move(base)), path_(std::move(path)), poll_(poll) {}

  absl::Status Fetch(const v1::AdapterRequest& request,
                     const FetchContext& context,
                     const Emit& emit) const override {
    return base_->Fetch(request, context, emit);
  }
  absl::Status Changes(const v1::ChangesRequest& request,
                       const FetchContext& context,
                       const EmitChanges& emit) const override;

 private:
  const std::unique_ptr<DataSource> base_;
  const std::string path_;
  const absl::Duration poll_;
};

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_FILE_CHANGE_LOG_H_
