#include "adapters/file/change_log.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dx::adapters {
namespace {

absl::StatusOr<v1::ChangeKind> KindOf(const std::string& s) {
  if (s == "insert") return v1::CHANGE_KIND_INSERT;
  if (s == "update") return v1::CHANGE_KIND_UPDATE;
  if (s == "delete") return v1::CHANGE_KIND_DELETE;
  if (s == "correction") return v1::CHANGE_KIND_CORRECTION;
  return absl::InvalidArgumentError(absl::StrCat(
      "kind '", s, "' is not insert, update, delete or correction"));
}

// The values of `obj` in `columns` order (a missing one is null).
void RowOf(const nlohmann::json& obj, const std::vector<std::string>& columns,
           v1::Row* row) {
  for (uint32_t i = 0; i < columns.size(); ++i) {
    auto v = obj.find(columns[i]);
    if (v == obj.end() || v->is_null()) {
      row->add_values("");
      row->add_nulls(i);
    } else {
      row->add_values(v->is_string() ? v->get<std::string>() : v->dump());
    }
  }
}

}  // namespace

absl::StatusOr<std::optional<uint64_t>> PrunedThrough(absl::string_view line) {
  nlohmann::json obj = nlohmann::json::parse(line, nullptr, false);
  if (obj.is_discarded() || !obj.is_object()) return std::nullopt;
  auto pruned = obj.find("pruned_through");
  if (pruned == obj.end()) return std::nullopt;
  if (!pruned->is_number_unsigned() || obj.size() != 1) {
    return absl::InvalidArgumentError(
        "a retention marker is {\"pruned_through\": N} alone, N a "
        "non-negative integer (the last position dropped)");
  }
  return pruned->get<uint64_t>();
}

absl::StatusOr<v1::ProviderChange> ParseChangeLine(
    absl::string_view line, const std::vector<std::string>& columns) {
  nlohmann::json obj = nlohmann::json::parse(line, nullptr, false);
  if (obj.is_discarded() || !obj.is_object()) {
    return absl::InvalidArgumentError("not a JSON object on one line");
  }
  v1::ProviderChange c;
  auto pos = obj.find("position");
  if (pos == obj.end() || !pos->is_number_unsigned()) {
    return absl::InvalidArgumentError(
        "\"position\" must be a non-negative integer");
  }
  c.set_position(std::to_string(pos->get<uint64_t>()));
  auto key = obj.find("key");
  if (key == obj.end() || !key->is_string() ||
      key->get<std::string>().empty()) {
    return absl::InvalidArgumentError("\"key\" must be a non-empty string");
  }
  c.set_key(key->get<std::string>());
  auto kind = obj.find("kind");
  if (kind == obj.end() || !kind->is_string()) {
    return absl::InvalidArgumentError("\"kind\" must be a string");
  }
  auto k = KindOf(kind->get<std::string>());
  if (!k.ok()) return k.status();
  c.set_kind(*k);
  auto when = obj.find("commit_time");
  if (when == obj.end() || !when->is_string()) {
    return absl::InvalidArgumentError(
        "\"commit_time\" must be an RFC 3339 time string");
  }
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, when->get<std::string>(), &t,
                       &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"commit_time\" is not RFC 3339: ", err));
  }
  const int64_t nanos = absl::ToUnixNanos(t);
  c.mutable_commit_time()->set_seconds(nanos / 1000000000);
  c.mutable_commit_time()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  auto values = obj.find("values");
  if (c.kind() == v1::CHANGE_KIND_DELETE) {
    // Optional for a delete: the record as it was, which the gateway needs
    // to tell whether a filtered consumer had it (and never sends).
    if (values == obj.end()) return c;
    if (!values->is_object()) {
      return absl::InvalidArgumentError(
          "a delete's \"values\" (the record as it was) must be an object");
    }
    RowOf(*values, columns, c.mutable_values());
    return c;
  }
  if (values == obj.end() || !values->is_object()) {
    return absl::InvalidArgumentError(
        "\"values\" must be an object (every kind but delete)");
  }
  RowOf(*values, columns, c.mutable_values());
  auto previous = obj.find("previous");
  if (previous != obj.end()) {
    if (c.kind() != v1::CHANGE_KIND_UPDATE &&
        c.kind() != v1::CHANGE_KIND_CORRECTION) {
      return absl::InvalidArgumentError(
          "\"previous\" (the record before the change) belongs to an update "
          "or a correction only");
    }
    if (!previous->is_object()) {
      return absl::InvalidArgumentError("\"previous\" must be an object");
    }
    RowOf(*previous, columns, c.mutable_previous_values());
  }
  return c;
}

absl::Status ChangeLogSource::Changes(const v1::ChangesRequest& request,
                                      const FetchContext& context,
                                      const EmitChanges& emit) const {
  const std::vector<std::string> columns(request.fields().begin(),
                                         request.fields().end());
  uint64_t after = 0;
  if (!request.after_position().empty() &&
      !absl::SimpleAtoi(request.after_position(), &after)) {
    return absl::InvalidArgumentError(
        absl::StrCat("after_position '", request.after_position(),
                     "' is not a position of this change log (an integer)"));
  }
  const uint32_t max_changes =
      request.max_changes() == 0 ? 256 : request.max_changes();
  const absl::Duration idle =
      absl::Seconds(request.idle_seconds() == 0 ? 10 : request.idle_seconds());
  if (request.snapshot_first()) {
    return absl::FailedPreconditionError(
        "the file adapter takes no snapshot of a dataset (its change log "
        "has no records to start from); subscribe from now or from the "
        "beginning of the log");
  }
  // from_end: the first pass only finds the end; nothing before it is sent.
  bool skipping = request.from_end();
  // position_only from the beginning: the position before the oldest
  // change kept, which only the log's first line (a marker) can move.
  const bool oldest_only = request.position_only() && !request.from_end();
  auto tell_oldest = [&](uint64_t pruned) {
    v1::ChangeBatch start;
    for (const auto& f : columns) start.add_columns(f);
    start.set_end_position(std::to_string(pruned));
    (void)emit(std::move(start));
    return absl::OkStatus();
  };

  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    return absl::UnavailableError(
        absl::StrCat("cannot open change log ", path_));
  }
  uint64_t last = 0;  // the last position read (0: none yet)
  uint64_t read_bytes = 0;
  uint64_t line_no = 0;
  bool seen_any = false;     // a change was read (`last` is its position)
  bool seen_marker = false;  // the first line was looked at for a marker
  std::string pending;       // bytes of a line not yet ended by a newline
  v1::ChangeBatch batch;
  for (const auto& f : columns) batch.add_columns(f);
  absl::Time last_emit = absl::Now();
  size_t batch_bytes = 0;  // of the changes in `batch`
  auto flush = [&]() -> bool {
    batch_bytes = 0;
    batch.set_end_position(std::to_string(std::max(last, after)));
    v1::ChangeBatch out = std::move(batch);
    batch.Clear();
    for (const auto& f : columns) batch.add_columns(f);
    last_emit = absl::Now();
    return emit(std::move(out));
  };
  char buf[64 << 10];
  while (!context.cancelled()) {
    in.read(buf, sizeof(buf));
    const std::streamsize got = in.gcount();
    read_bytes += static_cast<uint64_t>(std::max<std::streamsize>(got, 0));
    if (got > 0) {
      pending.append(buf, static_cast<size_t>(got));
      size_t start = 0;
      for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos;
           start = nl + 1) {
        ++line_no;
        absl::string_view line(pending.data() + start, nl - start);
        if (line.find_first_not_of(" \t\r") == absl::string_view::npos) {
          continue;
        }
        if (!seen_any && !seen_marker) {
          seen_marker = true;  // only the log's first line may be one
          auto pruned = PrunedThrough(line);
          if (!pruned.ok()) {
            return absl::FailedPreconditionError(
                absl::StrCat("change log ", path_, ":", line_no, ": ",
                             pruned.status().message()));
          }
          if (pruned->has_value()) {
            // Changes up to **pruned were dropped by the log's retention:
            // a feed that still needs one of them cannot go on without a
            // gap, and must say so (the gateway tells the consumer to
            // resynchronise).
            if (!request.after_position().empty() && !request.from_end() &&
                after < **pruned) {
              return absl::OutOfRangeError(absl::StrCat(
                  "change log ", path_,
                  " keeps only the changes after "
                  "position ",
                  **pruned, "; the changes after ", after, " were pruned"));
            }
            if (oldest_only) return tell_oldest(**pruned);
            last = **pruned;
            seen_any = true;
            continue;
          }
          if (oldest_only) return tell_oldest(0);
        }
        auto change = ParseChangeLine(line, columns);
        if (!change.ok()) {
          return absl::FailedPreconditionError(
              absl::StrCat("change log ", path_, ":", line_no, ": ",
                           change.status().message()));
        }
        uint64_t pos = 0;
        (void)absl::SimpleAtoi(change->position(), &pos);
        if (seen_any && pos <= last) {
          return absl::FailedPreconditionError(
              absl::StrCat("change log ", path_, ":", line_no, ": position ",
                           pos, " does not follow ", last,
                           " (positions must increase line by line)"));
        }
        last = pos;
        seen_any = true;
        if (skipping || pos <= after) continue;
        batch_bytes += change->ByteSizeLong();
        *batch.add_changes() = *std::move(change);
        if ((static_cast<uint32_t>(batch.changes_size()) >= max_changes ||
             batch_bytes >= kMaxBatchBytes) &&
            !flush()) {
          return absl::OkStatus();
        }
      }
      pending.erase(0, start);
      if (pending.size() > kMaxLineBytes) {
        return absl::FailedPreconditionError(
            absl::StrCat("change log ", path_, ":", line_no + 1,
                         ": a line longer than ", kMaxLineBytes, " bytes"));
      }
      if (got == static_cast<std::streamsize>(sizeof(buf))) continue;
    }
    // At the end of what is written so far.
    in.clear();
    // Append-only: a log that shrank was rewritten or truncated, and what
    // the feed already sent may no longer be in it. Stop rather than wait
    // on it silently.
    std::error_code size_error;
    const uintmax_t size = std::filesystem::file_size(path_, size_error);
    if (size_error || size < read_bytes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "change log ", path_, " is shorter than the ", read_bytes,
          " bytes already read (or gone): it must only be appended to"));
    }
    if (oldest_only) return tell_oldest(0);  // nothing written yet
    if (skipping) {
      skipping = false;
      after = last;
      if (!flush()) return absl::OkStatus();  // tells the start position
      if (request.position_only()) return absl::OkStatus();
      continue;
    }
    if (batch.changes_size() > 0) {
      if (!flush()) return absl::OkStatus();
    } else if (absl::Now() - last_emit >= idle) {
      if (!flush()) return absl::OkStatus();  // idle: the end, no changes
    }
    // Polled, not watched: simple, and the same on every file system. The
    // wait is the feed's latency floor, not a correctness assumption.
    absl::SleepFor(poll_);
  }
  return absl::OkStatus();
}

}  // namespace dx::adapters
