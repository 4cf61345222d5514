#include "cli/cloudevents.h"

#include "absl/strings/str_cat.h"
#include "common/records.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace dx::cli {
namespace {

const char* KindType(v1::ChangeKind k) {
  switch (k) {
    case v1::CHANGE_KIND_INSERT:
      return "vn.dx.change.insert";
    case v1::CHANGE_KIND_UPDATE:
      return "vn.dx.change.update";
    case v1::CHANGE_KIND_DELETE:
      return "vn.dx.change.delete";
    case v1::CHANGE_KIND_CORRECTION:
      return "vn.dx.change.correction";
    case v1::CHANGE_KIND_LEFT_VIEW:
      return "vn.dx.change.left_view";
    case v1::CHANGE_KIND_SNAPSHOT:
      return "vn.dx.change.snapshot";
    default:
      return "vn.dx.change.unknown";
  }
}

}  // namespace

std::string CloudEventJson(const v1::EventBatch& batch,
                           const v1::ChangeEvent& event) {
  google::protobuf::Struct ce;
  auto& f = *ce.mutable_fields();
  f["specversion"].set_string_value("1.0");
  f["id"].set_string_value(
      absl::StrCat(batch.subscription_id(), "-", event.sequence()));
  f["source"].set_string_value(
      absl::StrCat("urn:dx:gateway:", batch.gateway_node_id()));
  f["type"].set_string_value(KindType(event.kind()));
  if (event.has_commit_time()) {
    f["time"].set_string_value(
        google::protobuf::util::TimeUtil::ToString(event.commit_time()));
  }
  f["subject"].set_string_value(event.key());
  f["datacontenttype"].set_string_value("application/json");
  f["dxdataset"].set_string_value(batch.dataset_id());
  // A string: CloudEvents integers are 32-bit, sequences are not.
  f["dxsequence"].set_string_value(absl::StrCat(event.sequence()));
  f["dxpolicyversion"].set_string_value(batch.policy_version());
  auto& data = *f["data"].mutable_struct_value()->mutable_fields();
  for (int i = 0; i < event.values().values_size() && i < batch.columns_size();
       ++i) {
    if (IsNull(event.values(), i)) {
      data[batch.columns(i)].set_null_value(google::protobuf::NULL_VALUE);
    } else {
      data[batch.columns(i)].set_string_value(event.values().values(i));
    }
  }
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(ce, &out);
  return out;
}

}  // namespace dx::cli
