#include "common/yaml_proto.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <yaml-cpp/yaml.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/utf8.h"

namespace dx {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

class Walker {
 public:
  Walker(std::string file, YamlLines* lines)
      : file_(std::move(file)), lines_(lines) {}

  absl::Status FillMessage(const YAML::Node& node, const std::string& path,
                           Message* msg) {
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) {
      return Error(node, path,
                   absl::StrCat("expects a mapping of fields of ",
                                msg->GetDescriptor()->name()));
    }
    const Descriptor* desc = msg->GetDescriptor();
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      const FieldDescriptor* field = desc->FindFieldByName(key);
      const std::string field_path = path.empty() ? key : path + "." + key;
      if (lines_ != nullptr) (*lines_)[field_path] = kv.first.Mark().line + 1;
      if (field == nullptr) {
        std::vector<std::string> known;
        for (int i = 0; i < desc->field_count(); ++i) {
          known.push_back(desc->field(i)->name());
        }
        return Error(
            kv.first, field_path,
            absl::StrCat("unknown field '", key, "' in ", desc->name(),
                         " (known fields: ", absl::StrJoin(known, ", "), ")"));
      }
      DX_RETURN_IF_ERROR(FillField(kv.second, field_path, field, msg));
    }
    return absl::OkStatus();
  }

  absl::Status Error(const YAML::Node& node, const std::string& path,
                     const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        file_, ":", node.Mark().line + 1, ": field '", path, "': ", what));
  }

 private:
  absl::Status FillField(const YAML::Node& node, const std::string& path,
                         const FieldDescriptor* field, Message* msg) {
    const Reflection* refl = msg->GetReflection();
    if (field->is_map()) {
      if (node.IsNull()) return absl::OkStatus();
      if (!node.IsMap()) return Error(node, path, "expects a mapping");
      const Descriptor* entry_desc = field->message_type();
      for (const auto& kv : node) {
        Message* entry = refl->AddMessage(msg, field);
        const std::string entry_path = path + "." + kv.first.Scalar();
        DX_RETURN_IF_ERROR(
            SetScalar(kv.first, entry_path, entry_desc->map_key(), entry));
        DX_RETURN_IF_ERROR(
            SetScalar(kv.second, entry_path, entry_desc->map_value(), entry));
      }
      return absl::OkStatus();
    }
    if (field->is_repeated()) {
      if (node.IsNull()) return absl::OkStatus();
      if (!node.IsSequence()) {
        return Error(node, path, "expects a list (YAML sequence)");
      }
      for (size_t i = 0; i < node.size(); ++i) {
        const std::string item_path = absl::StrCat(path, "[", i, "]");
        if (lines_ != nullptr) (*lines_)[item_path] = node[i].Mark().line + 1;
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          DX_RETURN_IF_ERROR(
              FillMessage(node[i], item_path, refl->AddMessage(msg, field)));
        } else {
          DX_RETURN_IF_ERROR(SetScalar(node[i], item_path, field, msg));
        }
      }
      return absl::OkStatus();
    }
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      return FillMessage(node, path, refl->MutableMessage(msg, field));
    }
    return SetScalar(node, path, field, msg);
  }

  // Sets (or, for repeated fields, appends) one scalar value.
  absl::Status SetScalar(const YAML::Node& node, const std::string& path,
                         const FieldDescriptor* field, Message* msg) {
    if (!node.IsScalar()) {
      return Error(
          node, path,
          absl::StrCat("expects a single ", field->cpp_type_name(), " value"));
    }
    const Reflection* refl = msg->GetReflection();
    const std::string& text = node.Scalar();
    const bool rep = field->is_repeated();
    auto bad = [&](const char* type) {
      return Error(node, path,
                   absl::StrCat("expects ", type, ", got '", text, "'"));
    };
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        // A protobuf string must be UTF-8: one that is not would be stored
        // (an etcd registry, an audit record) and then fail to parse on
        // every reader. YAML files are UTF-8 by definition.
        if (field->type() == FieldDescriptor::TYPE_STRING &&
            !IsValidUtf8(text)) {
          return Error(node, path,
                       "is not UTF-8 text (save the file as UTF-8)");
        }
        rep ? refl->AddString(msg, field, text)
            : refl->SetString(msg, field, text);
        return absl::OkStatus();
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool v;
        if (!absl::SimpleAtob(text, &v)) return bad("true or false");
        rep ? refl->AddBool(msg, field, v) : refl->SetBool(msg, field, v);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_INT32: {
        int32_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
        rep ? refl->AddInt32(msg, field, v) : refl->SetInt32(msg, field, v);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
        rep ? refl->AddInt64(msg, field, v) : refl->SetInt64(msg, field, v);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_UINT32: {
        uint32_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
        rep ? refl->AddUInt32(msg, field, v) : refl->SetUInt32(msg, field, v);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t v;
        if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
        rep ? refl->AddUInt64(msg, field, v) : refl->SetUInt64(msg, field, v);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double v;
        if (!absl::SimpleAtod(text, &v)) return bad("a number");
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
          rep ? refl->AddFloat(msg, field, static_cast<float>(v))
              : refl->SetFloat(msg, field, static_cast<float>(v));
        } else {
          rep ? refl->AddDouble(msg, field, v) : refl->SetDouble(msg, field, v);
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const EnumValueDescriptor* value = FindEnumValue(field, text);
        if (value == nullptr) {
          std::vector<std::string> names;
          for (int i = 1; i < field->enum_type()->value_count(); ++i) {
            names.push_back(ShortName(field->enum_type()->value(i)));
          }
          return Error(node, path,
                       absl::StrCat("unknown value '", text, "' (one of: ",
                                    absl::StrJoin(names, ", "), ")"));
        }
        rep ? refl->AddEnum(msg, field, value)
            : refl->SetEnum(msg, field, value);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
    return Error(node, path, "unsupported field type");
  }

  // The lower-case suffix after the enum's prefix: DATA_CATEGORY_SHARED ->
  // "shared".
  static std::string ShortName(const EnumValueDescriptor* value) {
    const std::string& first = value->type()->value(0)->name();
    const size_t prefix_end = first.rfind("UNSPECIFIED");
    std::string name = value->name();
    if (prefix_end != std::string::npos &&
        name.compare(0, prefix_end, first, 0, prefix_end) == 0) {
      name = name.substr(prefix_end);
    }
    return absl::AsciiStrToLower(name);
  }

  static const EnumValueDescriptor* FindEnumValue(const FieldDescriptor* field,
                                                  const std::string& text) {
    const auto* type = field->enum_type();
    if (const auto* exact = type->FindValueByName(text)) return exact;
    const std::string lower = absl::AsciiStrToLower(text);
    for (int i = 1; i < type->value_count(); ++i) {
      if (ShortName(type->value(i)) == lower) return type->value(i);
    }
    return nullptr;
  }

  std::string file_;
  YamlLines* lines_;
};

}  // namespace

absl::Status YamlToProto(const std::string& yaml_text,
                         const std::string& file_name, Message* message,
                         YamlLines* lines) {
  message->Clear();
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        file_name, ":", e.mark.line + 1, ": YAML syntax error: ", e.msg));
  }
  Walker walker(file_name, lines);
  try {
    return walker.FillMessage(root, "", message);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ":", e.mark.line + 1, ": ", e.msg));
  }
}

int LineOf(const YamlLines& lines, const std::string& path) {
  std::string p = path;
  while (!p.empty()) {
    if (auto it = lines.find(p); it != lines.end()) return it->second;
    const size_t cut = p.find_last_of(".[");
    if (cut == std::string::npos) break;
    p.resize(cut);
  }
  return 0;
}

absl::Status LoadYamlFile(const std::string& path, Message* message) {
  DX_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return YamlToProto(text, path, message);
}

}  // namespace dx
