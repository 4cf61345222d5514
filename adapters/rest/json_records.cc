#include "adapters/rest/json_records.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/records.h"

namespace dx::adapters {
namespace {

using Json = nlohmann::json;
constexpr size_t kMaxDepth = 64;

// Builds a DOM like nlohmann's own, but keeps each floating-point number
// as the text it was written in (stored as a string).
class NumberKeepingBuilder final : public nlohmann::json_sax<Json> {
 public:
  Json root;
  std::string error;

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
  Json* Insert(Json v) {
    if (open_.empty()) {
      root = std::move(v);
      return &root;
    }
    Json& top = *open_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    Json& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }
  bool Add(Json v) {
    Insert(std::move(v));
    return true;
  }
  // A child's parent gets nothing new until the child closes, so pointers
  // into open containers stay valid.
  bool Open(Json v) {
    if (open_.size() >= kMaxDepth) {
      error = "the provider's answer nests deeper than 64 levels";
      return false;
    }
    open_.push_back(Insert(std::move(v)));
    return true;
  }
  bool Close() {
    open_.pop_back();
    return true;
  }

  std::vector<Json*> open_;
  std::string key_;
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

}  // namespace

absl::StatusOr<JsonPage> ParseJsonRecords(
    absl::string_view body, const std::string& records_pointer,
    const std::vector<std::string>& field_pointers,
    const std::string& next_pointer) {
  NumberKeepingBuilder builder;
  if (!Json::sax_parse(body.begin(), body.end(), &builder)) {
    return absl::InternalError(builder.error.empty()
                                   ? "the provider's answer is not JSON"
                                   : builder.error);
  }
  JsonPage page;
  const Json* records = At(builder.root, records_pointer);
  if (records == nullptr || !(records->is_array() || records->is_object())) {
    return absl::InternalError(absl::StrCat(
        "the provider's answer has no records at '", records_pointer,
        "' (an array or an object; check records_pointer)"));
  }
  auto add = [&](const Json& record) {
    v1::Row row;
    for (const std::string& p : field_pointers) {
      AddJsonValue(&row, record.is_object() ? At(record, p) : nullptr);
    }
    page.rows.push_back(std::move(row));
  };
  if (records->is_array()) {
    for (const Json& r : *records) add(r);
  } else {
    add(*records);
  }
  if (!next_pointer.empty()) {
    const Json* next = At(builder.root, next_pointer);
    if (next != nullptr && next->is_string())
      page.next = next->get<std::string>();
  }
  return page;
}

}  // namespace dx::adapters
