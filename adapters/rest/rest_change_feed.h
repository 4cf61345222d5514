// RestChangeFeed: a REST dataset's look-ups (the wrapped DataSource) plus
// its change feed, polled from the provider's change endpoint with a
// cursor: `GET <url>?after=<position>&limit=<n>` answers the changes after
// a position, oldest first (docs/ADAPTERS.md, "The REST adapter's change
// feed"). ChangeFeedPlan builds the URLs and reads the answers; this class
// sends them and turns the provider's statuses into the feed's: 410 Gone is
// OUT_OF_RANGE (the consumer must resynchronise), a transport failure or a
// 5xx UNAVAILABLE (the gateway resumes), any other breach of the convention
// FAILED_PRECONDITION. One page (at most max_response_bytes) is held at a
// time. Thread-safe: each feed runs on its caller's thread, sharing only
// the immutable plan and the thread-safe HttpClient.
#ifndef DX_ADAPTERS_REST_REST_CHANGE_FEED_H_
#define DX_ADAPTERS_REST_REST_CHANGE_FEED_H_

#include <memory>
#include <string>
#include <vector>

#include "adapters/rest/change_feed_plan.h"
#include "adapters/rest/http_client.h"
#include "adapters/sdk/data_source.h"

namespace dx::adapters {

class RestChangeFeed final : public DataSource {
 public:
  // A batch is sent once its changes reach this many bytes, whatever
  // max_changes allows (the gateway's receive limit is 64 MiB).
  static constexpr size_t kMaxBatchBytes = 8 << 20;

  // `client` is shared by the datasets and outlives this; `headers` are
  // the dataset's, as "Name: value".
  RestChangeFeed(std::unique_ptr<DataSource> lookups, v1::RestDataset dataset,
                 ChangeFeedPlan plan, const HttpClient* client,
                 std::vector<std::string> headers)
      : lookups_(std::move(lookups)),
        dataset_(std::move(dataset)),
        plan_(std::move(plan)),
        client_(client),
        headers_(std::move(headers)) {}

  absl::Status Fetch(const v1::AdapterRequest& request,
                     const FetchContext& context,
                     const Emit& emit) const override {
    return lookups_->Fetch(request, context, emit);
  }
  absl::Status Changes(const v1::ChangesRequest& request,
                       const FetchContext& context,
                       const EmitChanges& emit) const override;

 private:
  // The 2xx answer's body for the page after `after`; CANCELLED when the
  // call was; otherwise the feed's status for what the provider did.
  absl::StatusOr<std::string> Get(const std::string& after, uint32_t limit,
                                  const FetchContext& context) const;
  absl::StatusOr<FeedBounds> Bounds(const FetchContext& context) const;

  const std::unique_ptr<DataSource> lookups_;
  const v1::RestDataset dataset_;
  const ChangeFeedPlan plan_;
  const HttpClient* const client_;
  const std::vector<std::string> headers_;
};

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_REST_REST_CHANGE_FEED_H_
