// Fuzzes the file adapter's CSV and JSON Lines readers and the look-ups on
// whatever they accept.
#include <cstddef>
#include <cstdint>
#include <string>

#include "adapters/file/file_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const char* format : {"csv", "jsonl"}) {
    auto source = dx::adapters::FileSource::Parse(text, format, "fuzz");
    if (!source.ok() || (*source)->columns().empty()) continue;
    dx::v1::AdapterRequest req;
    req.set_batch_rows(3);
    req.set_max_records(50);
    (*req.mutable_query())[(*source)->columns()[0]] = text.substr(0, 8);
    (void)(*source)->Fetch(req, {}, [](dx::v1::RecordBatch&&) { return true; });
  }
  return 0;
}
