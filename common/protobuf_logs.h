// Protobuf logs every decoding problem (e.g. invalid UTF-8 in a string
// field) to stderr. In a server that decodes what strangers send, that lets
// anyone flood the log (found by fuzz_signed_request). QuietProtobufLogs
// keeps at most one such line a minute, with a count of those dropped.
#ifndef DX_COMMON_PROTOBUF_LOGS_H_
#define DX_COMMON_PROTOBUF_LOGS_H_

namespace dx {

// Call once at start, before serving.
void QuietProtobufLogs();

}  // namespace dx

#endif  // DX_COMMON_PROTOBUF_LOGS_H_
