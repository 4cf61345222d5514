// FileSource: a DataSource over a CSV file (header line, RFC 4180 quoting)
// or a JSON Lines file (one flat object per line), loaded into memory once.
// The first column is indexed for equality look-ups. Thread-safe (read-only
// after Load).
#ifndef DX_ADAPTERS_FILE_FILE_SOURCE_H_
#define DX_ADAPTERS_FILE_FILE_SOURCE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "adapters/sdk/data_source.h"

namespace dx::adapters {

class FileSource final : public DataSource {
 public:
  // `format` is "csv" or "jsonl"; empty picks by extension.
  static absl::StatusOr<std::unique_ptr<FileSource>> Load(
      const std::string& path, std::string format);
  // Same, from text in memory (`name` appears in error messages).
  static absl::StatusOr<std::unique_ptr<FileSource>> Parse(
      const std::string& text, const std::string& format,
      const std::string& name);

  absl::Status Fetch(const v1::AdapterRequest& request,
                     const FetchContext& context,
                     const Emit& emit) const override;

  size_t row_count() const { return rows_.size(); }
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  FileSource() = default;
  void BuildIndex();

  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> rows_;
  // Per row, the columns whose value is missing (JSON Lines only; empty for
  // CSV, which has no way to say "missing").
  std::vector<std::vector<uint32_t>> nulls_;
  // Value of the first column -> row numbers.
  absl::flat_hash_map<std::string, std::vector<size_t>> key_index_;
};

// Splits CSV text into records of fields (RFC 4180: quotes, doubled quotes,
// newlines inside quotes, CRLF). Errors name the line.
absl::StatusOr<std::vector<std::vector<std::string>>> ParseCsv(
    const std::string& text, const std::string& name);

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_FILE_FILE_SOURCE_H_
