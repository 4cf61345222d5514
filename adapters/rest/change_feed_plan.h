// ChangeFeedPlan: the pure half of dx-rest-adapter's change feed. It checks
// a dataset's `change_feed` config, builds the URL of a page of changes
// (`GET <url>?after=<position>&limit=<n>`) and reads a provider's answer into
// ProviderChanges, refusing every answer that breaks the convention
// (docs/ADAPTERS.md, "The REST adapter's change feed"). Values are read
// with the dataset's field pointers by the look-ups' own JSON reader
// (ParseJsonRecords), so a change's record and a look-up's record map to
// fields the same way, and memory stays bounded by what a page may hold.
// No network: unit-tested alone. Immutable and thread-safe once compiled.
#ifndef DX_ADAPTERS_REST_CHANGE_FEED_PLAN_H_
#define DX_ADAPTERS_REST_CHANGE_FEED_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "adapters/rest/rest_plan.h"
#include "dx/v1/rest_adapter.pb.h"
#include "dx/v1/subscription.pb.h"

namespace dx::adapters {

// Where feeds start, from the provider's answer to limit=0.
struct FeedBounds {
  std::string start;  // the position before the oldest change kept
  std::string end;    // the position of the newest change (the present end)
};

class ChangeFeedPlan {
 public:
  // A position is an opaque token the adapter hands back to the provider
  // and the gateway stores: bounded so that neither holds a provider's
  // megabytes for it.
  static constexpr size_t kMaxPositionBytes = 1024;

  // INVALID_ARGUMENT naming the dataset and what is wrong in its
  // change_feed. `dataset` must have one.
  static absl::StatusOr<ChangeFeedPlan> Compile(const v1::RestDataset& dataset);

  // The URL of the page of at most `limit` changes after `after` ("" is
  // from the oldest kept; limit 0 asks for the bounds only).
  std::string PageUrl(absl::string_view after, uint32_t limit) const;

  // The changes of one page, oldest first, their values (and previous
  // values) in `fields` order. FAILED_PRECONDITION naming the dataset, the
  // change (its index in the page and its position when known) and what
  // is wrong, for an answer that is not JSON, has no array of changes, or
  // holds a change without a position, key, known kind, commit time or
  // (but for a delete) values object.
  absl::StatusOr<std::vector<v1::ProviderChange>> ParsePage(
      absl::string_view body, const FieldPointers& fields) const;

  // The start and end positions of the answer to limit=0;
  // FAILED_PRECONDITION when either is missing or not a position.
  absl::StatusOr<FeedBounds> ParseBounds(absl::string_view body) const;

  const std::string& dataset_id() const { return dataset_id_; }
  absl::Duration poll() const { return poll_; }
  // The change endpoint without its query, for messages.
  const std::string& where() const { return where_; }

 private:
  std::string dataset_id_;
  std::string url_, where_;
  std::string after_param_, limit_param_;
  absl::Duration poll_;
  std::string changes_, start_, end_;
  std::string position_, key_, kind_, values_, previous_, commit_time_;
};

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_REST_CHANGE_FEED_PLAN_H_
