#include "adapters/file/file_source.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/records.h"
#include "common/status_macros.h"

namespace dx::adapters {

absl::StatusOr<std::vector<std::vector<std::string>>> ParseCsv(
    const std::string& text, const std::string& name) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool in_quotes = false;
  bool field_started = false;
  size_t line = 1;
  auto end_field = [&] {
    record.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    switch (c) {
      case '"':
        if (field_started) {
          return absl::InvalidArgumentError(absl::StrCat(
              name, ":", line, ": a quote inside an unquoted field"));
        }
        in_quotes = true;
        field_started = true;
        break;
      case ',':
        end_field();
        break;
      case '\r':
        break;
      case '\n':
        end_field();
        records.push_back(std::move(record));
        record.clear();
        ++line;
        break;
      default:
        field.push_back(c);
        field_started = true;
    }
  }
  if (in_quotes) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ":", line, ": unterminated quoted field"));
  }
  if (field_started || !record.empty()) {
    end_field();
    records.push_back(std::move(record));
  }
  return records;
}

absl::StatusOr<std::unique_ptr<FileSource>> FileSource::Load(
    const std::string& path, std::string format) {
  if (format.empty()) {
    format = absl::EndsWith(path, ".jsonl") || absl::EndsWith(path, ".ndjson")
                 ? "jsonl"
                 : "csv";
  }
  DX_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return Parse(text, format, path);
}

absl::StatusOr<std::unique_ptr<FileSource>> FileSource::Parse(
    const std::string& text, const std::string& format,
    const std::string& name) {
  std::unique_ptr<FileSource> src(new FileSource());
  if (format == "csv") {
    DX_ASSIGN_OR_RETURN(auto records, ParseCsv(text, name));
    if (records.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": empty CSV file (need a header line)"));
    }
    src->columns_ = std::move(records[0]);
    for (size_t i = 1; i < records.size(); ++i) {
      if (records[i].size() == 1 && records[i][0].empty()) continue;
      if (records[i].size() != src->columns_.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": record ", i + 1, " has ", records[i].size(),
                         " fields, the header has ", src->columns_.size()));
      }
      src->rows_.push_back(std::move(records[i]));
    }
  } else if (format == "jsonl") {
    absl::flat_hash_map<std::string, size_t> column_of;
    // present[r][c]: row r has a non-null value for column c. A key a line
    // lacks, or a JSON null, is a missing value, not an empty one.
    std::vector<std::vector<bool>> present;
    size_t line_no = 0;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      ++line_no;
      if (absl::StripAsciiWhitespace(line).empty()) continue;
      // ordered_json keeps the file's key order, so the first key is the
      // first (indexed) column.
      nlohmann::ordered_json obj =
          nlohmann::ordered_json::parse(line, nullptr, false);
      if (obj.is_discarded() || !obj.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, ":", line_no, ": not a JSON object on one line"));
      }
      std::vector<std::string> row(src->columns_.size());
      std::vector<bool> has(src->columns_.size(), false);
      for (auto& [key, value] : obj.items()) {
        auto [it, added] = column_of.emplace(key, src->columns_.size());
        if (added) {
          src->columns_.push_back(key);
          for (auto& r : src->rows_) r.emplace_back();
          for (auto& p : present) p.push_back(false);
          row.emplace_back();
          has.push_back(false);
        }
        if (value.is_null()) continue;
        row[it->second] =
            value.is_string() ? value.get<std::string>() : value.dump();
        has[it->second] = true;
      }
      src->rows_.push_back(std::move(row));
      present.push_back(std::move(has));
    }
    src->nulls_.resize(src->rows_.size());
    for (size_t r = 0; r < present.size(); ++r) {
      for (size_t c = 0; c < present[r].size(); ++c) {
        if (!present[r][c]) src->nulls_[r].push_back(static_cast<uint32_t>(c));
      }
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": unknown format '", format, "' (use csv or jsonl)"));
  }
  src->BuildIndex();
  return src;
}

void FileSource::BuildIndex() {
  if (columns_.empty()) return;
  for (size_t i = 0; i < rows_.size(); ++i)
    key_index_[rows_[i][0]].push_back(i);
}

absl::Status FileSource::Fetch(const v1::AdapterRequest& request,
                               const FetchContext& /*context*/,
                               const Emit& emit) const {
  auto column_index = [&](const std::string& name) -> int {
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (columns_[i] == name) return static_cast<int>(i);
    }
    return -1;
  };
  std::vector<int> out_cols;
  v1::RecordBatch header;
  if (request.fields().empty()) {
    for (size_t i = 0; i < columns_.size(); ++i) out_cols.push_back(i);
  } else {
    for (const auto& f : request.fields()) {
      const int idx = column_index(f);
      if (idx < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown field '", f, "' in this dataset"));
      }
      out_cols.push_back(idx);
    }
  }
  for (int c : out_cols) header.add_columns(columns_[c]);
  std::vector<std::pair<int, std::string>> filters;
  for (const auto& [key, value] : request.query()) {
    const int idx = column_index(key);
    if (idx < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown query key '", key, "' in this dataset"));
    }
    filters.emplace_back(idx, value);
  }
  // Candidate rows: the key index when the first column is filtered.
  const std::vector<size_t>* candidates = nullptr;
  for (const auto& [idx, value] : filters) {
    if (idx == 0) {
      static const std::vector<size_t> kNone;
      auto it = key_index_.find(value);
      candidates = it == key_index_.end() ? &kNone : &it->second;
    }
  }
  const size_t total = candidates ? candidates->size() : rows_.size();
  const uint32_t batch_rows =
      request.batch_rows() ? request.batch_rows() : 1000;
  const uint64_t limit = request.max_records();
  uint64_t sent = 0;
  v1::RecordBatch batch = header;
  for (size_t n = 0; n < total; ++n) {
    const size_t r = candidates ? (*candidates)[n] : n;
    const auto& row = rows_[r];
    auto missing = [&](int c) {
      if (nulls_.empty()) return false;
      const auto& cols = nulls_[r];
      return std::find(cols.begin(), cols.end(), static_cast<uint32_t>(c)) !=
             cols.end();
    };
    bool match = true;
    for (const auto& [idx, value] : filters) {
      if (missing(idx) || row[idx] != value) {  // a missing value equals none
        match = false;
        break;
      }
    }
    if (!match) continue;
    // One row past max_records, as the SDK's rules ask: it tells the
    // gateway that more matched (the answer then says it was cut short).
    if (limit != 0 && sent > limit) break;
    auto* out = batch.add_rows();
    for (int c : out_cols) AddValue(out, row[c], missing(c));
    ++sent;
    if (static_cast<uint32_t>(batch.rows_size()) >= batch_rows) {
      if (!emit(std::move(batch))) return absl::OkStatus();
      batch = header;
    }
  }
  if (batch.rows_size() > 0 || sent == 0) emit(std::move(batch));
  return absl::OkStatus();
}

}  // namespace dx::adapters
