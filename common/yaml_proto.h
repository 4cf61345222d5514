// Reads YAML into a protobuf message by walking the message's descriptor, so
// every error names the file, the line and the field (Envoy's pattern of
// "people write YAML, programs read protos").
//
// Rules: keys are proto field names; repeated fields are YAML sequences;
// enums accept their full name or the lower-case suffix ("shared" for
// DATA_CATEGORY_SHARED); unknown keys are errors, never ignored.
#ifndef DX_COMMON_YAML_PROTO_H_
#define DX_COMMON_YAML_PROTO_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace google::protobuf {
class Message;
}

namespace dx {

// Field path ("datasets[0].grants[2].fields[1]") -> 1-based line, so that
// checks made after parsing can name the line too.
using YamlLines = absl::flat_hash_map<std::string, int>;

// Parses `yaml_text` into `message` (cleared first). `file_name` is used in
// error messages only. With `lines`, records where each field was written.
absl::Status YamlToProto(const std::string& yaml_text,
                         const std::string& file_name,
                         google::protobuf::Message* message,
                         YamlLines* lines = nullptr);

// The line of `path` or of its nearest enclosing field in `lines` (0 when
// none is known).
int LineOf(const YamlLines& lines, const std::string& path);

// Reads the file at `path` and parses it into `message`.
absl::Status LoadYamlFile(const std::string& path,
                          google::protobuf::Message* message);

}  // namespace dx

#endif  // DX_COMMON_YAML_PROTO_H_
