// The sharing-policy decision, measured (docs/POLICY.md): a Google
// Benchmark over a snapshot holding 10,000 datasets with 100 grants each
// (and forbids, masks, row filters, groups, patterns). Besides the mean that
// Google Benchmark reports, every call is timed on its own to report the
// p50 and p99 (the clock's own cost, measured, is subtracted).
//
//   make bench-policy            or   build/bench/dx_policy_bench
//   DX_POLICY_BENCH_DATASETS=1000 build/bench/dx_policy_bench   (smaller)
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "policy/policy_authorizer.h"
#include "policy/snapshot.h"
#include "registry/registry.h"

namespace dx::policy {
namespace {

constexpr int kGrantsPerDataset = 100;
constexpr int kFieldsPerDataset = 24;
constexpr int kAgencies = 2000;
constexpr int kPurposes = 20;
constexpr int kRequests = 1 << 14;

std::string Agency(int i) {
  return absl::StrFormat("000.00.%02d.H%02d", i / 100, i % 100);
}
std::string Purpose(int i) { return absl::StrCat("purpose-", i); }
std::string Field(int i) { return absl::StrCat("field_", i); }

long MaxRssMiB() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

long CurrentRssMiB() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024) / 1024;
}

struct World {
  std::shared_ptr<const registry::Registry> registry;
  std::shared_ptr<const PolicySnapshot> snapshot;
  std::vector<AccessRequest> allow_fields, allow_all, deny;
  double compile_seconds = 0;
  long peak_rss_mib = 0;
  long rss_mib = 0;
};

World Build(int datasets) {
  std::mt19937 rng(42);
  auto pick = [&rng](int n) { return static_cast<int>(rng() % n); };
  World w;
  v1::Registry registry;
  // Every consumer and provider is registered (the registry checks it).
  for (int a = 0; a < kAgencies; ++a)
    registry.add_agencies()->set_code(Agency(a));
  for (int p = 0; p < 30; ++p) {
    registry.add_agencies()->set_code(absl::StrFormat("000.00.00.G%02d", p));
  }
  auto doc = std::make_unique<v1::PolicyDocument>();
  auto* group = doc->mutable_directory()->add_groups();
  group->set_name("north");
  group->add_members("000.00.0*");
  for (int a = 0; a < kAgencies; ++a) {
    auto* attrs = doc->mutable_directory()->add_agencies();
    attrs->set_agency(Agency(a));
    (*attrs->mutable_attributes())["province_code"] =
        absl::StrFormat("%03d", a % 63);
  }
  for (int d = 0; d < datasets; ++d) {
    v1::Dataset* ds = registry.add_datasets();
    ds->set_id(absl::StrCat("ministry", d % 30, ".dataset", d));
    ds->set_provider_agency(absl::StrFormat("000.00.00.G%02d", d % 30));
    ds->set_category(v1::DATA_CATEGORY_SHARED);
    ds->set_restriction_legal_basis("Law on Data 2024 Art. 18");
    ds->mutable_adapter()->set_address("127.0.0.1:7001");
    for (int f = 0; f < kFieldsPerDataset; ++f) {
      v1::FieldSpec* spec = ds->add_fields();
      spec->set_name(Field(f));
      if (f % 3 == 0) spec->add_tags("personal");
    }
    v1::DatasetPolicy* p = doc->add_datasets();
    p->set_dataset(ds->id());
    for (int g = 0; g < kGrantsPerDataset; ++g) {
      v1::Grant* grant = p->add_grants();
      grant->set_id(absl::StrCat("g", g));
      const int consumer = pick(kAgencies);
      grant->add_consumers(Agency(consumer));
      const int purpose = pick(kPurposes);
      grant->add_purposes(Purpose(purpose));
      grant->add_purposes(Purpose((purpose + 1) % kPurposes));
      grant->set_legal_basis("Decree 194/2025/ND-CP Art. 16");
      const int first = pick(kFieldsPerDataset - 12);
      for (int f = first; f < first + 12; ++f) grant->add_fields(Field(f));
      if (g % 10 == 0) {
        v1::MaskRule* m = grant->add_masks();
        m->set_field(Field(first));
        m->set_kind(v1::MASK_KIND_PARTIAL);
        m->set_keep_last(4);
      }
      if (g % 10 == 5) {
        grant->set_row_filter("field_2 == consumer.province_code");
      }
      if (g % 20 == 7) {
        grant->mutable_quota()->set_requests_per_minute(1000000);
      }
      // Requests this grant decides (mostly allowed; the row filter and
      // forbid cases are part of the mix).
      AccessRequest r;
      r.consumer_agency = Agency(consumer);
      r.dataset_id = ds->id();
      r.purpose_code = Purpose(purpose);
      r.has_data_subject_id = true;
      if (pick(kGrantsPerDataset * datasets / kRequests + 1) == 0) {
        AccessRequest all = r;
        w.allow_all.push_back(all);
        r.fields = {Field(first + 1), Field(first + 4), Field(first + 7)};
        w.allow_fields.push_back(r);
        AccessRequest no = r;
        no.purpose_code = "not-granted";
        w.deny.push_back(no);
      }
    }
    v1::Forbid* f = p->add_forbids();
    f->set_id("no-field-23");
    f->add_consumers("group:north");
    f->add_fields(Field(23));
    f->set_legal_basis("Decree 13/2023/ND-CP");
    v1::Forbid* whole = p->add_forbids();
    whole->set_id("suspended");
    whole->add_consumers(Agency(kAgencies - 1));
    whole->set_legal_basis("an inspection decision");
  }
  auto reg = registry::Registry::FromProto(std::move(registry), "bench");
  if (!reg.ok()) {
    std::cerr << "registry: " << reg.status() << "\n";
    std::exit(1);
  }
  w.registry = *std::move(reg);
  const auto start = std::chrono::steady_clock::now();
  auto snap = PolicySnapshot::Compile(w.registry, *doc, nullptr, 1, absl::Now(),
                                      nullptr);
  w.compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (!snap.ok()) {
    std::cerr << "compile failed: " << snap.status() << "\n";
    std::exit(1);
  }
  w.snapshot = *snap;
  doc.reset();  // the snapshot holds its own copy
  w.peak_rss_mib = MaxRssMiB();
  w.rss_mib = CurrentRssMiB();
  for (auto* v : {&w.allow_fields, &w.allow_all, &w.deny}) {
    std::shuffle(v->begin(), v->end(), rng);
  }
  return w;
}

World& TheWorld() {
  static World* w = [] {
    const char* env = std::getenv("DX_POLICY_BENCH_DATASETS");
    const int datasets = env ? std::atoi(env) : 10000;
    auto* built = new World(Build(datasets));
    std::cerr << "policy: " << datasets << " datasets x " << kGrantsPerDataset
              << " grants, compiled in "
              << absl::StrFormat("%.2f", built->compile_seconds) << " s; RSS "
              << built->rss_mib << " MiB (peak while building "
              << built->peak_rss_mib << " MiB); " << built->allow_fields.size()
              << " sample requests\n";
    return built;
  }();
  return *w;
}

using SteadyClock = std::chrono::steady_clock;

// The cost of the two clock reads around each timed call.
double ClockOverheadNs() {
  static const double overhead = [] {
    std::vector<double> v;
    for (int i = 0; i < 100000; ++i) {
      auto a = SteadyClock::now();
      auto b = SteadyClock::now();
      v.push_back(std::chrono::duration<double, std::nano>(b - a).count());
    }
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  }();
  return overhead;
}

// Runs `decide` over `requests`; reports p50/p99 of single calls.
template <typename Fn>
void TimedLoop(benchmark::State& state, const std::vector<AccessRequest>& reqs,
               Fn decide) {
  std::vector<double> ns;
  ns.reserve(1 << 20);
  const double overhead = ClockOverheadNs();
  size_t i = 0, allowed = 0;
  for (auto _ : state) {
    const AccessRequest& r = reqs[i++ % reqs.size()];
    auto a = SteadyClock::now();
    AccessDecision d = decide(r);
    auto b = SteadyClock::now();
    benchmark::DoNotOptimize(d);
    allowed += d.allowed;
    if (ns.size() < ns.capacity()) {
      ns.push_back(std::chrono::duration<double, std::nano>(b - a).count() -
                   overhead);
    }
  }
  std::sort(ns.begin(), ns.end());
  if (!ns.empty()) {
    state.counters["p50_ns"] = ns[ns.size() / 2];
    state.counters["p99_ns"] = ns[ns.size() * 99 / 100];
    state.counters["allowed_pct"] = 100.0 * allowed / state.iterations();
  }
}

void BM_DecideNamedFields(benchmark::State& state) {
  const World& w = TheWorld();
  const absl::Time now = absl::Now();
  TimedLoop(state, w.allow_fields,
            [&](const AccessRequest& r) { return w.snapshot->Decide(r, now); });
}

void BM_DecideAllReadable(benchmark::State& state) {
  const World& w = TheWorld();
  const absl::Time now = absl::Now();
  TimedLoop(state, w.allow_all,
            [&](const AccessRequest& r) { return w.snapshot->Decide(r, now); });
}

void BM_DecideDenied(benchmark::State& state) {
  const World& w = TheWorld();
  const absl::Time now = absl::Now();
  TimedLoop(state, w.deny,
            [&](const AccessRequest& r) { return w.snapshot->Decide(r, now); });
}

// What the gateway calls: the atomic snapshot load, the clock, quotas
// (the local store, which answers inline).
void BM_AuthorizerDecide(benchmark::State& state) {
  const World& w = TheWorld();
  static LocalQuotaStore* quotas = new LocalQuotaStore();
  static PolicyAuthorizer* authz =
      new PolicyAuthorizer(w.snapshot, quotas, SystemClock::Get());
  TimedLoop(state, w.allow_fields, [&](const AccessRequest& r) {
    AccessDecision out;
    authz->Decide(r, nullptr, [&out](AccessDecision d) { out = std::move(d); });
    return out;
  });
}

// The same, cycling over 64 requests: the caches hold what they touch, as
// they do for a gateway whose traffic goes mostly to its busiest datasets.
void BM_DecideNamedFieldsHot(benchmark::State& state) {
  const World& w = TheWorld();
  const absl::Time now = absl::Now();
  std::vector<AccessRequest> hot(w.allow_fields.begin(),
                                 w.allow_fields.begin() + 64);
  TimedLoop(state, hot,
            [&](const AccessRequest& r) { return w.snapshot->Decide(r, now); });
}

// Applying a change to one dataset: compiled on top of the active snapshot,
// sharing every other dataset (what PolicyAdmin does on apply).
void BM_CompileOneChangedDataset(benchmark::State& state) {
  const World& w = TheWorld();
  const std::string id = w.registry->proto().datasets(0).id();
  v1::PolicyDocument change;
  *change.add_datasets() = *w.snapshot->PolicyOf(id);
  change.mutable_datasets(0)->mutable_grants(0)->set_description("changed");
  for (auto _ : state) {
    auto next = PolicySnapshot::Compile(w.registry, change, w.snapshot.get(), 2,
                                        absl::Now(), nullptr);
    if (!next.ok()) state.SkipWithError("compile failed");
    benchmark::DoNotOptimize(next);
  }
}

BENCHMARK(BM_DecideNamedFieldsHot);
BENCHMARK(BM_CompileOneChangedDataset)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecideNamedFields);
BENCHMARK(BM_DecideAllReadable);
BENCHMARK(BM_DecideDenied);
BENCHMARK(BM_AuthorizerDecide);

}  // namespace
}  // namespace dx::policy

BENCHMARK_MAIN();
