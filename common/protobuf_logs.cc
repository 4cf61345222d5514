#include "common/protobuf_logs.h"

#include <google/protobuf/stubs/logging.h>

#include <atomic>
#include <chrono>
#include <cstdio>

namespace dx {
namespace {

std::atomic<int64_t> next_allowed_ms{0};
std::atomic<uint64_t> dropped{0};

void RateLimitedHandler(google::protobuf::LogLevel level, const char* file,
                        int line, const std::string& message) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t allowed = next_allowed_ms.load();
  if (level < google::protobuf::LOGLEVEL_FATAL &&
      (now < allowed ||
       !next_allowed_ms.compare_exchange_strong(allowed, now + 60000))) {
    dropped.fetch_add(1);
    return;
  }
  std::fprintf(stderr, "protobuf %s:%d: %s (%llu similar lines dropped)\n",
               file, line, message.c_str(),
               static_cast<unsigned long long>(dropped.exchange(0)));
}

}  // namespace

void QuietProtobufLogs() {
  google::protobuf::SetLogHandler(&RateLimitedHandler);
}

}  // namespace dx
