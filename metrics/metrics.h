// Metrics: one process's Prometheus registry (prometheus-cpp's core: its
// families and text serializer; not its pull library, which brings a second
// HTTP server), plus families computed when scraped from state the process
// keeps anyway (log size, certificate expiry, entries in a store), so that
// nothing is sampled in the background. Thread-safe.
#ifndef DX_METRICS_METRICS_H_
#define DX_METRICS_METRICS_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "prometheus/registry.h"

namespace dx::metrics {

// One family computed at scrape time.
struct ScrapedFamily {
  enum class Type { kGauge, kCounter };
  struct Sample {
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;
  };
  std::string name;
  std::string help;
  Type type = Type::kGauge;
  std::vector<Sample> samples;
};
using ScrapeFn = std::function<std::vector<ScrapedFamily>()>;

class Metrics {
 public:
  Metrics();
  ~Metrics();

  prometheus::Registry& registry() { return *registry_; }
  // `fn` runs on every scrape, on the scraping thread; it must be cheap and
  // thread-safe, and outlive this object or be removed by its destruction.
  void AddScrape(ScrapeFn fn);
  // Every family, in the text exposition format (version 0.0.4).
  std::string Exposition() const;

 private:
  class ScrapeCollectable;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ScrapeCollectable> scraped_;
};

// Histogram buckets for stage latencies, in seconds: 50 µs to 10 s.
const std::vector<double>& LatencyBuckets();

}  // namespace dx::metrics

#endif  // DX_METRICS_METRICS_H_
