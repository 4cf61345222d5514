#include "metrics/metrics.h"

#include <sstream>

#include "metrics/http_refusals.h"
#include "prometheus/collectable.h"
#include "prometheus/text_serializer.h"

namespace dx::metrics {

class Metrics::ScrapeCollectable final : public prometheus::Collectable {
 public:
  void Add(ScrapeFn fn) {
    absl::MutexLock lock(&mu_);
    fns_.push_back(std::move(fn));
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<ScrapeFn> fns;
    {
      absl::MutexLock lock(&mu_);
      fns = fns_;
    }
    std::vector<prometheus::MetricFamily> out;
    for (const ScrapeFn& fn : fns) {
      for (const ScrapedFamily& f : fn()) {
        prometheus::MetricFamily family;
        family.name = f.name;
        family.help = f.help;
        const bool counter = f.type == ScrapedFamily::Type::kCounter;
        family.type = counter ? prometheus::MetricType::Counter
                              : prometheus::MetricType::Gauge;
        for (const ScrapedFamily::Sample& s : f.samples) {
          prometheus::ClientMetric m;
          for (const auto& [name, value] : s.labels) {
            m.label.push_back({name, value});
          }
          if (counter) {
            m.counter.value = s.value;
          } else {
            m.gauge.value = s.value;
          }
          family.metric.push_back(std::move(m));
        }
        out.push_back(std::move(family));
      }
    }
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<ScrapeFn> fns_ ABSL_GUARDED_BY(mu_);
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      scraped_(std::make_shared<ScrapeCollectable>()) {
  // Every process with metrics has its HTTP ports' refusals among them.
  AddScrape(HttpRefusalFamilies);
}

Metrics::~Metrics() = default;

void Metrics::AddScrape(ScrapeFn fn) { scraped_->Add(std::move(fn)); }

std::string Metrics::Exposition() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::vector<prometheus::MetricFamily> scraped = scraped_->Collect();
  families.insert(families.end(), std::make_move_iterator(scraped.begin()),
                  std::make_move_iterator(scraped.end()));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

const std::vector<double>& LatencyBuckets() {
  static const auto* buckets = new std::vector<double>{
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
  return *buckets;
}

}  // namespace dx::metrics
