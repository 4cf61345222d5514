#include "adapters/rest/change_feed_plan.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "adapters/rest/json_records.h"
#include "common/records.h"
#include "common/status_macros.h"

namespace dx::adapters {
namespace {

constexpr uint32_t kDefaultPollMillis = 1000;

// What each of the members read from a change is, by index in the field
// and shape pointers handed to ParseJsonRecords.
enum Member { kPosition, kKey, kKind, kCommitTime, kValues, kPrevious };
// The first field's value comes after the four scalar members.
constexpr size_t kFirstValue = 4;

absl::StatusOr<v1::ChangeKind> KindOf(const std::string& s) {
  if (s == "insert") return v1::CHANGE_KIND_INSERT;
  if (s == "update") return v1::CHANGE_KIND_UPDATE;
  if (s == "delete") return v1::CHANGE_KIND_DELETE;
  if (s == "correction") return v1::CHANGE_KIND_CORRECTION;
  return absl::FailedPreconditionError(
      absl::StrCat("\"kind\" '", s.substr(0, 64),
                   "' is not insert, update, delete or correction"));
}

const std::string& Or(const std::string& value, const std::string& fallback) {
  return value.empty() ? fallback : value;
}

// A position as the convention has it: a non-empty JSON string of at most
// kMaxPositionBytes.
bool IsPosition(JsonType type, const std::string& value) {
  return type == JsonType::kString && !value.empty() &&
         value.size() <= ChangeFeedPlan::kMaxPositionBytes;
}

}  // namespace

absl::StatusOr<ChangeFeedPlan> ChangeFeedPlan::Compile(
    const v1::RestDataset& dataset) {
  const v1::RestDataset::ChangeFeed& c = dataset.change_feed();
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset '", dataset.dataset_id(), "': change_feed: ", what));
  };
  ChangeFeedPlan plan;
  plan.dataset_id_ = dataset.dataset_id();
  if (OriginOf(c.url()).empty() || absl::StrContains(c.url(), '{') ||
      absl::StrContains(c.url(), '#')) {
    return bad(absl::StrCat("url '", c.url(),
                            "' is not an http or https URL with a fixed host "
                            "and no {placeholder} or #fragment"));
  }
  plan.url_ = c.url();
  plan.where_ = c.url().substr(0, c.url().find('?'));
  plan.after_param_ = Or(c.after_param(), "after");
  plan.limit_param_ = Or(c.limit_param(), "limit");
  if (plan.after_param_ == plan.limit_param_) {
    return bad("after_param and limit_param must differ");
  }
  const size_t query = c.url().find('?');
  if (query != std::string::npos) {
    for (absl::string_view kv :
         absl::StrSplit(absl::string_view(c.url()).substr(query + 1), '&')) {
      const absl::string_view name = kv.substr(0, kv.find('='));
      if (name == PercentEncode(plan.after_param_) ||
          name == PercentEncode(plan.limit_param_)) {
        return bad(absl::StrCat("url already has the parameter '", name,
                                "' the adapter sets"));
      }
    }
  }
  plan.poll_ = absl::Milliseconds(c.poll_millis() != 0 ? c.poll_millis()
                                                       : kDefaultPollMillis);
  plan.changes_ = Or(c.changes_pointer(), "/changes");
  plan.start_ = Or(c.start_pointer(), "/start");
  plan.end_ = Or(c.end_pointer(), "/end");
  plan.position_ = Or(c.position_pointer(), "/position");
  plan.key_ = Or(c.key_pointer(), "/key");
  plan.kind_ = Or(c.kind_pointer(), "/kind");
  plan.values_ = Or(c.values_pointer(), "/values");
  plan.previous_ = Or(c.previous_pointer(), "/previous");
  plan.commit_time_ = Or(c.commit_time_pointer(), "/commit_time");
  const std::pair<const char*, const std::string*> pointers[] = {
      {"changes_pointer", &plan.changes_},
      {"start_pointer", &plan.start_},
      {"end_pointer", &plan.end_},
      {"position_pointer", &plan.position_},
      {"key_pointer", &plan.key_},
      {"kind_pointer", &plan.kind_},
      {"values_pointer", &plan.values_},
      {"previous_pointer", &plan.previous_},
      {"commit_time_pointer", &plan.commit_time_}};
  for (const auto& [name, pointer] : pointers) {
    if ((*pointer)[0] != '/') {
      return bad(absl::StrCat(name, " '", *pointer, "' must start with /"));
    }
  }
  if (plan.values_ == plan.previous_) {
    return bad("values_pointer and previous_pointer must differ");
  }
  return plan;
}

std::string ChangeFeedPlan::PageUrl(absl::string_view after,
                                    uint32_t limit) const {
  return absl::StrCat(url_, absl::StrContains(url_, '?') ? "&" : "?",
                      PercentEncode(after_param_), "=", PercentEncode(after),
                      "&", PercentEncode(limit_param_), "=", limit);
}

absl::StatusOr<std::vector<v1::ProviderChange>> ChangeFeedPlan::ParsePage(
    absl::string_view body, const FieldPointers& fields) const {
  auto broken = [&](absl::string_view what) {
    return absl::FailedPreconditionError(
        absl::StrCat("dataset '", dataset_id_, "': the change endpoint ",
                     where_, " breaks the feed's convention: ", what));
  };
  // Members first, then each field under values, then under previous.
  std::vector<std::string> pointers = {position_, key_, kind_, commit_time_};
  for (const std::string& p : fields.pointers) {
    pointers.push_back(values_ + p);
  }
  for (const std::string& p : fields.pointers) {
    pointers.push_back(previous_ + p);
  }
  const std::vector<std::string> shapes = {position_,    key_,    kind_,
                                           commit_time_, values_, previous_};
  auto page = ParseJsonRecords(body, changes_, pointers, "", 0, shapes);
  if (!page.ok()) return broken(page.status().message());
  if (!page->records_array) {
    return broken(absl::StrCat("'", changes_,
                               "' is not an array of changes (check "
                               "change_feed.changes_pointer)"));
  }
  const size_t n = fields.pointers.size();
  std::vector<v1::ProviderChange> out;
  out.reserve(page->rows.size());
  for (size_t i = 0; i < page->rows.size(); ++i) {
    v1::Row& row = page->rows[i];
    const std::vector<JsonType>& shape = page->shapes[i];
    auto value = [&](Member m) -> const std::string& {
      return row.values(static_cast<int>(m));
    };
    std::string at = absl::StrCat("change ", i);
    if (!IsPosition(shape[kPosition], value(kPosition))) {
      return broken(absl::StrCat(at, ": \"position\" (", position_,
                                 ") must be a non-empty string of at most ",
                                 kMaxPositionBytes, " bytes"));
    }
    absl::StrAppend(&at, " (position '", value(kPosition), "')");
    v1::ProviderChange c;
    c.set_position(value(kPosition));
    if (shape[kKey] != JsonType::kString || value(kKey).empty()) {
      return broken(absl::StrCat(at, ": \"key\" (", key_,
                                 ") must be a non-empty string"));
    }
    c.set_key(value(kKey));
    if (shape[kKind] != JsonType::kString) {
      return broken(
          absl::StrCat(at, ": \"kind\" (", kind_, ") must be a string"));
    }
    auto kind = KindOf(value(kKind));
    if (!kind.ok())
      return broken(absl::StrCat(at, ": ", kind.status().message()));
    c.set_kind(*kind);
    absl::Time t;
    std::string why;
    if (shape[kCommitTime] != JsonType::kString ||
        !absl::ParseTime(absl::RFC3339_full, value(kCommitTime), &t, &why)) {
      return broken(absl::StrCat(at, ": \"commit_time\" (", commit_time_,
                                 ") must be an RFC 3339 time string"));
    }
    const int64_t seconds = absl::ToUnixSeconds(t);
    c.mutable_commit_time()->set_seconds(seconds);
    c.mutable_commit_time()->set_nanos(static_cast<int32_t>(
        (t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
    // The record's values sit after the members, then its previous values.
    auto take = [&](size_t first, v1::Row* to) {
      for (size_t f = 0; f < n; ++f) {
        const int col = static_cast<int>(first + f);
        if (IsNull(row, col)) {
          AddNull(to);
        } else {
          to->add_values(row.values(col));
        }
      }
    };
    const bool has_values = shape[kValues] == JsonType::kObject;
    const bool has_previous = shape[kPrevious] == JsonType::kObject;
    if (!has_values && shape[kValues] != JsonType::kAbsent &&
        shape[kValues] != JsonType::kNull) {
      return broken(
          absl::StrCat(at, ": \"values\" (", values_, ") must be an object"));
    }
    if (!has_previous && shape[kPrevious] != JsonType::kAbsent &&
        shape[kPrevious] != JsonType::kNull) {
      return broken(absl::StrCat(at, ": \"previous\" (", previous_,
                                 ") must be an object"));
    }
    if (c.kind() == v1::CHANGE_KIND_DELETE) {
      // The record as it was, in values or previous, whichever the
      // provider sends: the gateway decides a row filter on it and never
      // sends it (ProviderChange.values of a delete).
      if (has_values) {
        take(kFirstValue, c.mutable_values());
      } else if (has_previous) {
        take(kFirstValue + n, c.mutable_values());
      }
    } else {
      if (!has_values) {
        return broken(absl::StrCat(at, ": \"values\" (", values_,
                                   ") must be an object for an ",
                                   value(kKind)));
      }
      take(kFirstValue, c.mutable_values());
      if (has_previous) {
        if (c.kind() == v1::CHANGE_KIND_INSERT) {
          return broken(absl::StrCat(
              at,
              ": \"previous\" (the record before the change) belongs to "
              "an update, a correction or a delete, not an insert"));
        }
        take(kFirstValue + n, c.mutable_previous_values());
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<FeedBounds> ChangeFeedPlan::ParseBounds(
    absl::string_view body) const {
  auto broken = [&](absl::string_view what) {
    return absl::FailedPreconditionError(
        absl::StrCat("dataset '", dataset_id_, "': the change endpoint ",
                     where_, " breaks the feed's convention in its answer to ",
                     limit_param_, "=0: ", what));
  };
  FeedBounds bounds;
  for (auto [pointer, into] : {std::make_pair(&start_, &bounds.start),
                               std::make_pair(&end_, &bounds.end)}) {
    // ParseJsonRecords reads one string beside the records: its "next"
    // link, here a position. No change of the answer is kept.
    auto page = ParseJsonRecords(body, changes_, {}, *pointer, 1);
    if (!page.ok()) return broken(page.status().message());
    if (!page->records_array) {
      return broken(absl::StrCat("'", changes_, "' is not an array"));
    }
    if (!IsPosition(JsonType::kString, page->next)) {
      return broken(absl::StrCat(
          "'", *pointer, "' must be a position (a non-empty string of at most ",
          kMaxPositionBytes, " bytes)"));
    }
    *into = std::move(page->next);
  }
  return bounds;
}

}  // namespace dx::adapters
