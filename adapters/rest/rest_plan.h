// RestPlan: turns an AdapterRequest into the HTTP request dx-rest-adapter
// sends a provider's service. The URL comes from the configured template;
// a consumer's values only fill its placeholders and query parameters,
// percent-encoded, so no value can change the host, the path's shape or
// add a parameter. Pure (no network), so it is unit-tested alone.
// Immutable and thread-safe once compiled.
#ifndef DX_ADAPTERS_REST_REST_PLAN_H_
#define DX_ADAPTERS_REST_REST_PLAN_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dx/v1/adapter.pb.h"
#include "dx/v1/rest_adapter.pb.h"

namespace dx::adapters {

struct RestCall {
  std::string method;  // GET or POST
  std::string url;
  std::string body;                   // POST: the query keys as JSON
  std::vector<std::string> fields;    // dataset fields, in answer order
  std::vector<std::string> pointers;  // the JSON pointer of each
};

// The dataset fields asked (all of the dataset's, in its order, when
// `names` is empty) and the JSON pointer of each inside a record.
struct FieldPointers {
  std::vector<std::string> names;
  std::vector<std::string> pointers;
};
// INVALID_ARGUMENT naming an unknown field. Shared by look-ups and the
// change feed, so both read a record's values the same way.
absl::StatusOr<FieldPointers> ResolveFields(
    const v1::RestDataset& dataset,
    const google::protobuf::RepeatedPtrField<std::string>& names);

class RestPlan {
 public:
  // INVALID_ARGUMENT naming the dataset and what is wrong in its config.
  static absl::StatusOr<RestPlan> Compile(const v1::RestDataset& dataset);

  // INVALID_ARGUMENT naming the field or key for an unknown field or query
  // key, or a required key missing.
  absl::StatusOr<RestCall> Build(const v1::AdapterRequest& request) const;

  // The URL of page `page` (page-number paging) for a call built above.
  std::string PageUrl(const RestCall& call, uint32_t page) const;
  // FAILED_PRECONDITION (the provider misbehaves) unless `next` (a next link,
  // maybe relative) stays on the call's scheme, host and port; the absolute URL
  // otherwise.
  absl::StatusOr<std::string> NextUrl(const RestCall& call,
                                      absl::string_view next) const;

  const v1::RestDataset& config() const { return config_; }

 private:
  v1::RestDataset config_;
  std::string origin_;  // scheme://host[:port] of the template
};

// OK when "name: value" is one well-formed header line: a token for a
// name, and a value with no CR, LF or other control character (a tab is
// allowed). Checked at start for fixed headers and those from the
// environment, so a variable holding "x\r\nHost: evil" never reaches a
// provider.
absl::Status CheckHeaderLine(absl::string_view name, absl::string_view value);

// RFC 3986 percent-encoding: everything but unreserved characters.
std::string PercentEncode(absl::string_view value);

// "scheme://host[:port]" of an absolute http(s) URL, lower-cased; empty
// when `url` is not one.
std::string OriginOf(absl::string_view url);

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_REST_REST_PLAN_H_
