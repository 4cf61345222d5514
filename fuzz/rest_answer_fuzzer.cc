// Fuzzes what dx-rest-adapter does with outside input: a provider's JSON
// answer (ParseJsonRecords), a page of its change endpoint
// (ChangeFeedPlan::ParsePage) and a consumer's query value placed in a URL
// (RestPlan::Build). Rows always have one value per field, nulls name real
// values, and no value can move the URL to another host or add a path
// segment or parameter.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/str_split.h"
#include "adapters/rest/change_feed_plan.h"
#include "adapters/rest/json_records.h"
#include "adapters/rest/rest_plan.h"

namespace {

const dx::adapters::RestPlan& Plan() {
  static const dx::adapters::RestPlan plan = [] {
    dx::v1::RestDataset ds;
    ds.set_dataset_id("fuzz.rest");
    ds.set_url("https://api.example.vn/v1/records/{id}?v=1");
    auto* id = ds.add_query_keys();
    id->set_key("id");
    id->set_required(true);
    ds.add_query_keys()->set_key("q");
    ds.add_fields()->set_name("id");
    return *dx::adapters::RestPlan::Compile(ds);
  }();
  return plan;
}

const dx::adapters::ChangeFeedPlan& Feed() {
  static const dx::adapters::ChangeFeedPlan feed = [] {
    dx::v1::RestDataset ds;
    ds.set_dataset_id("fuzz.rest");
    ds.set_url("https://api.example.vn/v1/records/{id}");
    ds.mutable_change_feed()->set_url("https://api.example.vn/v1/changes");
    return *dx::adapters::ChangeFeedPlan::Compile(ds);
  }();
  return feed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    dx::v1::AdapterRequest req;
    const std::pair<std::string, std::string> parts =
        absl::StrSplit(input, absl::MaxSplits('\n', 1));
    (*req.mutable_query())["id"] = parts.first;
    if (!parts.second.empty()) (*req.mutable_query())["q"] = parts.second;
    auto call = Plan().Build(req);
    if (call.ok()) {
      if (dx::adapters::OriginOf(call->url) != "https://api.example.vn") {
        std::abort();
      }
      const std::string path = call->url.substr(0, call->url.find('?'));
      if (std::count(path.begin(), path.end(), '/') != 5) std::abort();
      // A placeholder's value never becomes a dot segment or an empty one,
      // which a client or server would resolve into another path.
      const std::string last = path.substr(path.rfind('/') + 1);
      if (last.empty() || last == "." || last == "..") std::abort();
      if (std::count(call->url.begin(), call->url.end(), '?') != 1 ||
          std::count(call->url.begin(), call->url.end(), '#') != 0 ||
          std::count(call->url.begin(), call->url.end(), '&') >
              (parts.second.empty() ? 0 : 1)) {
        std::abort();
      }
    }
    return 0;
  }
  if (data[0] & 2) {
    // Every change handed on is whole: a position the gateway can store, a
    // key, a known kind, and one value per field (none for a bare delete).
    dx::adapters::FieldPointers fields;
    fields.names = {"id", "b"};
    fields.pointers = {"/id", "/a/b"};
    auto changes = Feed().ParsePage(input, fields);
    if (!changes.ok()) return 0;
    for (const auto& c : *changes) {
      if (c.position().empty() ||
          c.position().size() >
              dx::adapters::ChangeFeedPlan::kMaxPositionBytes ||
          c.key().empty() || c.kind() < dx::v1::CHANGE_KIND_INSERT ||
          c.kind() > dx::v1::CHANGE_KIND_CORRECTION) {
        std::abort();
      }
      if (c.values().values_size() != 2 &&
          !(c.kind() == dx::v1::CHANGE_KIND_DELETE &&
            c.values().values_size() == 0)) {
        std::abort();
      }
      if (c.previous_values().values_size() % 2 != 0) std::abort();
    }
    return 0;
  }
  auto page = dx::adapters::ParseJsonRecords(input, "/data",
                                             {"/id", "/a/b", "/n/0"}, "/next");
  if (page.ok()) {
    for (const auto& row : page->rows) {
      if (row.values_size() != 3) std::abort();
      for (uint32_t n : row.nulls()) {
        if (n >= 3 || !row.values(n).empty()) std::abort();
      }
    }
  }
  return 0;
}
