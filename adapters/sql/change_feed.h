// SqlChangeFeed: a SQL dataset (look-ups by the wrapped SqlSource) whose
// changes are served from its outbox (ChangeFeedPlan), for subscriptions.
//
// Each feed holds one connection of its own pool (max_feeds) and LISTENs
// on the outbox's channel. Each round it stamps the committed unstamped
// rows (the sequencer: advisory lock, then one UPDATE in id order), reads
// the rows after its position in seq order, and checks the pruning horizon
// after the read (so a read that raced a prune is refused, never short).
// Then it waits for a notification, or idle_seconds at worst. A row
// committed later is stamped later, so a position never skips a change.
// At most once a minute (across the dataset's feeds) it prunes stamped
// rows older than keep_hours. Thread-safe.
#ifndef DX_ADAPTERS_SQL_CHANGE_FEED_H_
#define DX_ADAPTERS_SQL_CHANGE_FEED_H_

#include <memory>

#include "absl/synchronization/mutex.h"
#include "adapters/sdk/data_source.h"
#include "adapters/sql/change_feed_plan.h"
#include "adapters/sql/pg_pool.h"

namespace dx::adapters {

class SqlChangeFeed final : public DataSource {
 public:
  // Changes per batch when the gateway does not say, and at most.
  static constexpr uint32_t kDefaultMaxChanges = 256;
  static constexpr uint32_t kMaxChanges = 10000;

  // `pool` is the feed's own (one connection per running feed).
  SqlChangeFeed(std::unique_ptr<DataSource> base, ChangeFeedPlan plan,
                std::unique_ptr<PgPool> pool, absl::Duration max_statement)
      : base_(std::move(base)),
        plan_(std::move(plan)),
        pool_(std::move(pool)),
        max_statement_(max_statement) {}

  absl::Status Fetch(const v1::AdapterRequest& request,
                     const FetchContext& context,
                     const Emit& emit) const override {
    return base_->Fetch(request, context, emit);
  }
  absl::Status Changes(const v1::ChangesRequest& request,
                       const FetchContext& context,
                       const EmitChanges& emit) const override;

  // Stamps what writers committed and prunes what keep_hours let go, as a
  // feed does each round, on a connection of the feed's pool (none free:
  // feeds are running and do it themselves). The adapter runs it at start
  // and every minute, so an outbox that no consumer reads stays bounded
  // too, and a first feed does not find a year of unstamped rows.
  absl::Status Housekeep() const;

 private:
  class Feed;
  // True when this call should prune (once a minute across feeds).
  bool PruneDue() const;

  const std::unique_ptr<DataSource> base_;
  const ChangeFeedPlan plan_;
  const std::unique_ptr<PgPool> pool_;
  const absl::Duration max_statement_;
  mutable absl::Mutex mu_;
  mutable absl::Time last_prune_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_SQL_CHANGE_FEED_H_
