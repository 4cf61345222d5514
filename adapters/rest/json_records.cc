#include "adapters/rest/json_records.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/records.h"

namespace dx::adapters {
namespace {

using Json = nlohmann::json;
constexpr size_t kMaxDepth = 64;

// Where a value sits, relative to what the caller asked for.
enum class Role {
  kSkip,       // nothing of it is needed: read past, not held
  kPath,       // on the way to the records or the next link
  kRecords,    // the records container itself
  kRecord,     // one record kept (its fields are looked for below)
  kFieldPath,  // inside a record, on the way to a field's value
  kField,      // a field's value or inside one: held whole
};

// Builds a DOM like nlohmann's own of only the parts that may end up in a
// row, keeping each floating-point number as the text it was written in
// (stored as a string).
class BoundedBuilder final : public nlohmann::json_sax<Json> {
 public:
  BoundedBuilder(const std::string& records_pointer,
                 const std::vector<std::string>& field_pointers,
                 const std::string& next_pointer, uint64_t max_rows)
      : records_(PointerTokens(records_pointer)),
        next_(PointerTokens(next_pointer)),
        has_next_(!next_pointer.empty()),
        max_rows_(max_rows) {
    for (const std::string& p : field_pointers) {
      fields_.push_back(PointerTokens(p));
    }
  }

  Json root;
  std::string error;
  uint64_t records_seen = 0;

  bool null() override { return Add(Json()); }
  bool boolean(bool v) override { return Add(Json(v)); }
  bool number_integer(number_integer_t v) override { return Add(Json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Add(Json(v)); }
  bool number_float(number_float_t, const string_t& text) override {
    return Add(Json(text));
  }
  bool string(string_t& v) override { return Add(Json(std::move(v))); }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return Open(Json::object()); }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(Json::array()); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception&) override {
    error = absl::StrCat("the provider's answer is not JSON (at byte ",
                         position, ")");
    return false;
  }

 private:
  struct Frame {
    Json* json;  // nullptr when skipped
    Role role;
    std::vector<std::string> path;  // absolute; relative inside a record
    uint64_t next_index = 0;        // arrays: the index of the next child
  };

  static bool IsPrefix(const std::vector<std::string>& a,
                       const std::vector<std::string>& b) {
    return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
  }

  // The role and path of the next value, from its parent's.
  Role RoleOfChild(std::vector<std::string>* path) {
    if (open_.empty()) {
      path->clear();
      if (records_.empty()) return Role::kRecords;
      return Role::kPath;
    }
    Frame& top = open_.back();
    std::string token = top.json != nullptr && top.json->is_array()
                            ? absl::StrCat(top.next_index)
                            : key_;
    if (top.json != nullptr && top.json->is_array()) ++top.next_index;
    if (top.role == Role::kSkip) return Role::kSkip;
    if (top.role == Role::kField) return Role::kField;
    if (top.role == Role::kRecords) {
      if (top.json->is_array()) {  // one record each
        ++records_seen;
        path->clear();
        return max_rows_ != 0 && records_seen > max_rows_ ? Role::kSkip
                                                          : Role::kRecord;
      }
      // The records container is one object, the only record: its
      // children are looked at as a record's.
    }
    *path = top.path;
    path->push_back(std::move(token));
    if (top.role == Role::kPath) {
      if (IsPrefix(*path, records_)) {
        return path->size() == records_.size() ? Role::kRecords : Role::kPath;
      }
      if (has_next_ && IsPrefix(*path, next_)) return Role::kPath;
      return Role::kSkip;
    }
    // Inside a record (or the one-object records container).
    if (top.role == Role::kRecords) {
      // Paths inside the single record are relative to it.
      path->assign(1, path->back());
    }
    Role role = Role::kSkip;
    for (const auto& f : fields_) {
      if (IsPrefix(f, *path)) return Role::kField;
      if (IsPrefix(*path, f)) role = Role::kFieldPath;
    }
    return role;
  }

  // Whether a scalar at `path` is needed: the next link is.
  bool Wanted(Role role, const std::vector<std::string>& path) const {
    if (role == Role::kSkip) return false;
    if (role == Role::kPath) return has_next_ && path == next_;
    return true;
  }

  Json* Insert(Json v) {
    if (++held_ > kMaxHeldJsonValues) {
      over_budget_ = true;
      return nullptr;
    }
    if (open_.empty()) {
      root = std::move(v);
      return &root;
    }
    Json& top = *open_.back().json;
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    Json& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }
  bool Add(Json v) {
    std::vector<std::string> path;
    const Role role = RoleOfChild(&path);
    if (!Wanted(role, path) && role != Role::kRecord &&
        role != Role::kRecords) {
      return true;
    }
    // A record or records container that is not an object or array: a
    // record holding no field (or a records pointer at a scalar).
    if (Insert(std::move(v)) == nullptr) return BudgetError();
    return true;
  }
  // A child's parent gets nothing new until the child closes, so pointers
  // into open containers stay valid.
  bool Open(Json v) {
    if (open_.size() >= kMaxDepth) {
      error = "the provider's answer nests deeper than 64 levels";
      return false;
    }
    std::vector<std::string> path;
    const Role role = RoleOfChild(&path);
    Json* at = nullptr;
    if (role != Role::kSkip) {
      at = Insert(std::move(v));
      if (at == nullptr) return BudgetError();
    }
    open_.push_back(Frame{at, role, std::move(path)});
    return true;
  }
  bool Close() {
    open_.pop_back();
    return true;
  }
  bool BudgetError() {
    error = absl::StrCat(
        "the provider's answer holds more than ", kMaxHeldJsonValues,
        " JSON values in the records asked for; narrow the query or the "
        "dataset's fields");
    return false;
  }

  const std::vector<std::string> records_, next_;
  const bool has_next_;
  const uint64_t max_rows_;
  std::vector<std::vector<std::string>> fields_;
  std::vector<Frame> open_;
  std::string key_;
  uint64_t held_ = 0;
  bool over_budget_ = false;
};

const Json* At(const Json& doc, const std::string& pointer) {
  if (pointer.empty()) return &doc;
  try {
    const Json::json_pointer p(pointer);
    return doc.contains(p) ? &doc.at(p) : nullptr;
  } catch (const Json::exception&) {
    return nullptr;  // e.g. an array index that is not a number
  }
}

void AddJsonValue(v1::Row* row, const Json* v) {
  if (v == nullptr || v->is_null()) {
    AddNull(row);
  } else if (v->is_string()) {
    row->add_values(v->get<std::string>());
  } else {
    row->add_values(v->dump());
  }
}

JsonType TypeOf(const Json* v) {
  if (v == nullptr) return JsonType::kAbsent;
  switch (v->type()) {
    case Json::value_t::null:
      return JsonType::kNull;
    case Json::value_t::boolean:
      return JsonType::kBool;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return JsonType::kNumber;
    case Json::value_t::string:
      return JsonType::kString;
    case Json::value_t::object:
      return JsonType::kObject;
    case Json::value_t::array:
      return JsonType::kArray;
    default:
      return JsonType::kAbsent;
  }
}

}  // namespace

std::vector<std::string> PointerTokens(absl::string_view pointer) {
  std::vector<std::string> out;
  if (pointer.empty()) return out;
  for (absl::string_view t : absl::StrSplit(pointer.substr(1), '/')) {
    out.push_back(absl::StrReplaceAll(t, {{"~1", "/"}, {"~0", "~"}}));
  }
  return out;
}

absl::StatusOr<JsonPage> ParseJsonRecords(
    absl::string_view body, const std::string& records_pointer,
    const std::vector<std::string>& field_pointers,
    const std::string& next_pointer, uint64_t max_rows,
    const std::vector<std::string>& shape_pointers) {
  BoundedBuilder builder(records_pointer, field_pointers, next_pointer,
                         max_rows);
  if (!Json::sax_parse(body.begin(), body.end(), &builder)) {
    return absl::InternalError(builder.error.empty()
                                   ? "the provider's answer is not JSON"
                                   : builder.error);
  }
  JsonPage page;
  page.records_seen = builder.records_seen;
  const Json* records = At(builder.root, records_pointer);
  if (records == nullptr || !(records->is_array() || records->is_object())) {
    return absl::InternalError(absl::StrCat(
        "the provider's answer has no records at '", records_pointer,
        "' (an array or an object; check records_pointer)"));
  }
  page.records_array = records->is_array();
  auto add = [&](const Json& record) {
    v1::Row row;
    for (const std::string& p : field_pointers) {
      AddJsonValue(&row, record.is_object() ? At(record, p) : nullptr);
    }
    page.rows.push_back(std::move(row));
    if (shape_pointers.empty()) return;
    std::vector<JsonType>& shape = page.shapes.emplace_back();
    for (const std::string& p : shape_pointers) {
      shape.push_back(
          TypeOf(record.is_object() || p.empty() ? At(record, p) : nullptr));
    }
  };
  if (records->is_array()) {
    for (const Json& r : *records) add(r);
  } else {
    add(*records);
    page.records_seen = 1;
  }
  if (!next_pointer.empty()) {
    const Json* next = At(builder.root, next_pointer);
    if (next != nullptr && next->is_string())
      page.next = next->get<std::string>();
  }
  return page;
}

}  // namespace dx::adapters
