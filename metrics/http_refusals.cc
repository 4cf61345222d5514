// dx_http_refused_total (http_refusals.h).
#include "metrics/http_refusals.h"

#include "http/live_servers.h"

namespace dx::metrics {

std::vector<ScrapedFamily> HttpRefusalFamilies() {
  ScrapedFamily f;
  f.name = "dx_http_refused_total";
  f.help =
      "Connections and requests an HTTP port of this process refused, by "
      "server (console, metrics) and reason: connection_limit (over the "
      "total or per-address limit), too_large (413, 431), timed_out (the "
      "request was not complete in time), overloaded (503: every worker "
      "busy and the queue full).";
  f.type = ScrapedFamily::Type::kCounter;
  for (const http::NamedCounts& s : http::LiveServerCounts()) {
    const std::pair<const char*, uint64_t> reasons[] = {
        {"connection_limit", s.counts.connections_refused},
        {"too_large", s.counts.requests_too_large},
        {"timed_out", s.counts.requests_timed_out},
        {"overloaded", s.counts.requests_overloaded},
    };
    for (const auto& [reason, n] : reasons) {
      ScrapedFamily::Sample sample;
      sample.labels = {{"server", s.name}, {"reason", reason}};
      sample.value = static_cast<double>(n);
      f.samples.push_back(std::move(sample));
    }
  }
  if (f.samples.empty()) return {};
  return {std::move(f)};
}

}  // namespace dx::metrics
