#include "adapters/rest/rest_change_feed.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace dx::adapters {
namespace {

constexpr uint32_t kDefaultMaxChanges = 256;
constexpr uint32_t kMostChanges = 10000;
// A cancelled feed ends within this, however long poll_millis is.
constexpr absl::Duration kSleepSlice = absl::Milliseconds(100);

}  // namespace

absl::StatusOr<std::string> RestChangeFeed::Get(
    const std::string& after, uint32_t limit,
    const FetchContext& context) const {
  const std::string& id = plan_.dataset_id();
  HttpRequest http;
  http.url = plan_.PageUrl(after, limit);
  http.headers = headers_;
  http.timeout =
      std::min(absl::Milliseconds(
                   dataset_.timeout_ms() != 0 ? dataset_.timeout_ms() : 10000),
               context.deadline - absl::Now());
  if (http.timeout <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError("the gateway's deadline has passed");
  }
  if (dataset_.max_response_bytes() != 0) {
    http.max_response_bytes = dataset_.max_response_bytes();
  }
  http.cancelled = context.cancelled;
  absl::StatusOr<HttpResponse> r = client_->Send(http);
  if (!r.ok()) {
    switch (r.status().code()) {
      case absl::StatusCode::kCancelled:
        return r.status();
      case absl::StatusCode::kFailedPrecondition:  // over max_response_bytes
        return absl::FailedPreconditionError(
            absl::StrCat("dataset '", id, "': ", r.status().message()));
      default:
        // Slow or unreachable: the gateway resumes the feed later from
        // its acknowledged position, so nothing is lost by giving up now.
        return absl::UnavailableError(
            absl::StrCat("dataset '", id, "': ", r.status().message()));
    }
  }
  const long status = r->status;
  if (status >= 200 && status < 300) return std::move(r->body);
  if (status == 410) {
    return absl::OutOfRangeError(absl::StrCat(
        "dataset '", id, "': the provider no longer keeps the changes after ",
        after.empty() ? std::string("the oldest position")
                      : absl::StrCat("position '", after, "'"),
        " (410 Gone from ", plan_.where(),
        "); the consumer must resynchronise"));
  }
  if (status >= 500 || status == 429 || status == 408) {
    return absl::UnavailableError(
        absl::StrCat("dataset '", id, "': the change endpoint failed (", status,
                     " from ", plan_.where(), ")"));
  }
  std::string hint;
  if (status == 401 || status == 403) {
    hint = "; check the dataset's headers or the adapter's certificate";
  } else if (status >= 300 && status < 400) {
    hint = "; redirects are not followed: configure the final URL";
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "dataset '", id, "': the change endpoint answered ", status, " (from ",
      plan_.where(),
      "; expected 2xx, or 410 for a position it no longer keeps)", hint));
}

absl::StatusOr<FeedBounds> RestChangeFeed::Bounds(
    const FetchContext& context) const {
  DX_ASSIGN_OR_RETURN(std::string body, Get("", 0, context));
  return plan_.ParseBounds(body);
}

absl::Status RestChangeFeed::Changes(const v1::ChangesRequest& request,
                                     const FetchContext& context,
                                     const EmitChanges& emit) const {
  const std::string& id = plan_.dataset_id();
  if (request.snapshot_first()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset '", id,
        "': the REST adapter takes no snapshot; subscribe from now or from "
        "the oldest change the provider keeps"));
  }
  DX_ASSIGN_OR_RETURN(FieldPointers fields,
                      ResolveFields(dataset_, request.fields()));
  if (request.after_position().size() > ChangeFeedPlan::kMaxPositionBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset '", id, "': after_position is longer than ",
                     ChangeFeedPlan::kMaxPositionBytes, " bytes"));
  }
  const uint32_t max_changes = std::min(
      request.max_changes() != 0 ? request.max_changes() : kDefaultMaxChanges,
      kMostChanges);
  const absl::Duration idle =
      absl::Seconds(request.idle_seconds() != 0 ? request.idle_seconds() : 10);
  // A CANCELLED from the HTTP client means the gateway went away: the feed
  // ends quietly, as when `emit` says no more.
  auto quiet = [](const absl::Status& s) {
    return s.code() == absl::StatusCode::kCancelled ? absl::OkStatus() : s;
  };

  auto empty_batch = [&] {
    v1::ChangeBatch b;
    for (const std::string& f : fields.names) b.add_columns(f);
    return b;
  };
  std::string after = request.after_position();
  if (request.from_end() || (request.position_only() && after.empty())) {
    absl::StatusOr<FeedBounds> bounds = Bounds(context);
    if (!bounds.ok()) return quiet(bounds.status());
    after = request.from_end() ? bounds->end : bounds->start;
  }
  v1::ChangeBatch batch = empty_batch();
  size_t batch_bytes = 0;
  absl::Time last_emit = absl::Now();
  auto flush = [&]() -> bool {
    batch.set_end_position(after);
    v1::ChangeBatch out = std::move(batch);
    batch = empty_batch();
    batch_bytes = 0;
    last_emit = absl::Now();
    return emit(std::move(out));
  };
  if (request.position_only()) {
    (void)flush();  // where this request would start, then the end
    return absl::OkStatus();
  }
  // From the end: say where the feed starts before anything changes.
  if (request.from_end() && !flush()) return absl::OkStatus();

  while (!context.cancelled()) {
    absl::StatusOr<std::vector<v1::ProviderChange>> changes;
    {
      // The page's bytes are dropped before its changes go out.
      absl::StatusOr<std::string> body = Get(after, max_changes, context);
      if (!body.ok()) return quiet(body.status());
      changes = plan_.ParsePage(*body, fields);
    }
    if (!changes.ok()) return changes.status();
    // A full page means more may wait: ask again at once.
    const bool full = changes->size() >= max_changes;
    const bool none = changes->empty();
    for (v1::ProviderChange& c : *changes) {
      after = c.position();
      batch_bytes += c.ByteSizeLong();
      *batch.add_changes() = std::move(c);
      if ((static_cast<uint32_t>(batch.changes_size()) >= max_changes ||
           batch_bytes >= kMaxBatchBytes) &&
          !flush()) {
        return absl::OkStatus();
      }
    }
    changes->clear();
    if (batch.changes_size() > 0 && !flush()) return absl::OkStatus();
    if (full) continue;
    if (none && absl::Now() - last_emit >= idle) {
      if (after.empty()) {
        // From the oldest, with nothing kept yet: the idle batch still
        // names a position, so that a resume from it detects a later prune.
        absl::StatusOr<FeedBounds> bounds = Bounds(context);
        if (!bounds.ok()) return quiet(bounds.status());
        after = bounds->start;
      }
      if (!flush()) return absl::OkStatus();
    }
    // Polled: the provider's convention is plain GETs, nothing to wait on.
    const absl::Time wake = absl::Now() + plan_.poll();
    while (!context.cancelled() && absl::Now() < wake) {
      absl::SleepFor(std::min(kSleepSlice, wake - absl::Now()));
    }
  }
  return absl::OkStatus();
}

}  // namespace dx::adapters
