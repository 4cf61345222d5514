#include "adapters/rest/rest_source.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "adapters/rest/json_records.h"
#include "common/status_macros.h"

namespace dx::adapters {
namespace {

constexpr uint32_t kDefaultMaxPages = 100;

std::string WithoutQuery(const std::string& url) {
  return url.substr(0, url.find('?'));
}

}  // namespace

absl::StatusOr<absl::optional<std::string>> RestSource::Get(
    const HttpRequest& http) const {
  DX_ASSIGN_OR_RETURN(HttpResponse r, client_->Send(http));
  const std::string where = WithoutQuery(http.url);
  if (r.status >= 200 && r.status < 300) {
    return absl::optional<std::string>(std::move(r.body));
  }
  if (r.status == 404) {
    const auto& c = plan_.config();
    if (!c.has_not_found_is_empty() || c.not_found_is_empty()) {
      return absl::optional<std::string>();
    }
    return absl::NotFoundError(absl::StrCat(
        "the provider's service has no such record (404 from ", where, ")"));
  }
  if (r.status >= 300 && r.status < 400) {
    return absl::FailedPreconditionError(
        absl::StrCat("the provider's service at ", where, " redirected (",
                     r.status, " to ", WithoutQuery(r.location),
                     "); redirects are not followed: configure the final URL"));
  }
  if (r.status == 400 || r.status == 422) {
    return absl::InvalidArgumentError(
        absl::StrCat("the provider's service refused the query (", r.status,
                     " from ", where, ")"));
  }
  if (r.status == 401 || r.status == 403) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the provider's service refused the adapter's credentials (", r.status,
        " from ", where, "); check its headers or certificate"));
  }
  return absl::UnavailableError(absl::StrCat("the provider's service failed (",
                                             r.status, " from ", where, ")"));
}

absl::Status RestSource::Fetch(const v1::AdapterRequest& request,
                               const FetchContext& context,
                               const Emit& emit) const {
  DX_ASSIGN_OR_RETURN(RestCall call, plan_.Build(request));
  const v1::RestDataset& config = plan_.config();
  const auto& paging = config.paging();
  const uint32_t max_pages =
      paging.max_pages() != 0 ? paging.max_pages() : kDefaultMaxPages;
  const uint32_t batch_rows = request.batch_rows() ? request.batch_rows() : 500;
  const uint64_t limit = request.max_records();
  const absl::Duration per_call = absl::Milliseconds(
      config.timeout_ms() != 0 ? config.timeout_ms() : 10000);

  v1::RecordBatch header;
  for (const std::string& f : call.fields) header.add_columns(f);
  v1::RecordBatch batch = header;
  uint64_t sent = 0;
  bool emitted = false;
  std::string url = paging.page_param().empty()
                        ? call.url
                        : plan_.PageUrl(call, paging.first_page());
  bool more = true;
  for (uint32_t page = 0; more; ++page) {
    if (page == max_pages) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the provider's service has more than ", max_pages,
          " pages for this query (paging.max_pages); narrow the query"));
    }
    HttpRequest http;
    http.method = call.method;
    http.url = url;
    http.body = call.body;
    http.headers = headers_;
    http.timeout = std::min(per_call, context.deadline - absl::Now());
    if (http.timeout <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("the gateway's deadline has passed");
    }
    if (config.max_response_bytes() != 0) {
      http.max_response_bytes = config.max_response_bytes();
    }
    http.cancelled = context.cancelled;
    DX_ASSIGN_OR_RETURN(absl::optional<std::string> body, Get(http));
    if (!body.has_value()) break;  // 404: nothing (more) matches
    // Only the records this call may still send are kept (one more than
    // max_records tells the gateway more matched); the rest of the answer
    // is read past without being held.
    const uint64_t wanted = limit == 0 ? 0 : limit + 1 - sent;
    DX_ASSIGN_OR_RETURN(
        JsonPage records,
        ParseJsonRecords(*body, config.records_pointer(), call.pointers,
                         paging.next_pointer(), wanted));
    body.reset();  // the page's bytes, before the next page is asked
    for (v1::Row& row : records.rows) {
      if (limit != 0 && sent > limit) break;  // one past: "truncated"
      *batch.add_rows() = std::move(row);
      ++sent;
      if (static_cast<uint32_t>(batch.rows_size()) >= batch_rows) {
        emitted = true;
        if (!emit(std::move(batch))) return absl::OkStatus();
        batch = header;
      }
    }
    if (limit != 0 && sent > limit) break;
    // Each page's rows go out before the next page is asked: the SDK then
    // holds a unary answer to the gateway's byte budget, and no more than
    // one page is held here whatever the chain's length.
    if (batch.rows_size() > 0) {
      emitted = true;
      if (!emit(std::move(batch))) return absl::OkStatus();
      batch = header;
    }
    if (!paging.page_param().empty()) {
      more = records.records_seen > 0;
      url = plan_.PageUrl(call, paging.first_page() + page + 1);
    } else if (!records.next.empty()) {
      DX_ASSIGN_OR_RETURN(url, plan_.NextUrl(call, records.next));
    } else {
      more = false;
    }
  }
  if (batch.rows_size() > 0 || !emitted) emit(std::move(batch));
  return absl::OkStatus();
}

absl::Status RestSource::Changes(const v1::ChangesRequest& request,
                                 const FetchContext& context,
                                 const EmitChanges& emit) const {
  (void)request;
  (void)context;
  (void)emit;
  return absl::UnimplementedError(absl::StrCat(
      "dataset '", plan_.config().dataset_id(),
      "' has no change feed in dx-rest-adapter's configuration; give it a "
      "change_feed (docs/ADAPTERS.md)"));
}

}  // namespace dx::adapters
