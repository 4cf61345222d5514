// dx_http_refused_total{server, reason}: what each HTTP port of this
// process (the console, the metrics port) refused — connections over a
// limit, requests too large, too slow, or with every worker busy — so that
// an operator sees a flood or a probe of those ports, not only their log
// lines. Computed at scrape time from http::LiveServerCounts().
#ifndef DX_METRICS_HTTP_REFUSALS_H_
#define DX_METRICS_HTTP_REFUSALS_H_

#include <vector>

#include "metrics/metrics.h"

namespace dx::metrics {

std::vector<ScrapedFamily> HttpRefusalFamilies();

}  // namespace dx::metrics

#endif  // DX_METRICS_HTTP_REFUSALS_H_
