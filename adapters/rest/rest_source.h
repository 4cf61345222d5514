// RestSource: a DataSource over one provider HTTP(S)/JSON service: builds
// the call (RestPlan), sends it (HttpClient), reads the records out of the
// answer (ParseJsonRecords) and follows the service's pages, emitting each
// page's records in batches. Only the configured fields of each record are
// ever read into a row. Thread-safe.
#ifndef DX_ADAPTERS_REST_REST_SOURCE_H_
#define DX_ADAPTERS_REST_REST_SOURCE_H_

#include <string>
#include <vector>

#include "absl/types/optional.h"
#include "adapters/rest/http_client.h"
#include "adapters/rest/rest_plan.h"
#include "adapters/sdk/data_source.h"

namespace dx::adapters {

class RestSource final : public DataSource {
 public:
  // `client` is shared by the datasets and outlives this; `headers` are
  // the fixed ones plus those read from the environment, as "Name: value".
  RestSource(RestPlan plan, const HttpClient* client,
             std::vector<std::string> headers)
      : plan_(std::move(plan)), client_(client), headers_(std::move(headers)) {}

  absl::Status Fetch(const v1::AdapterRequest& request,
                     const FetchContext& context,
                     const Emit& emit) const override;
  // A dataset without a change_feed: UNIMPLEMENTED, saying how to add one.
  absl::Status Changes(const v1::ChangesRequest& request,
                       const FetchContext& context,
                       const EmitChanges& emit) const override;

 private:
  // The answer's body when its status is 2xx (an empty body is not JSON,
  // and fails as such later); nullopt for a 404 when not_found_is_empty;
  // otherwise a status saying what the service did.
  absl::StatusOr<absl::optional<std::string>> Get(
      const HttpRequest& http) const;

  const RestPlan plan_;
  const HttpClient* const client_;
  const std::vector<std::string> headers_;
};

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_REST_REST_SOURCE_H_
