#include "metrics/grpc_server_metrics.h"

#include <google/protobuf/descriptor.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "metrics/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"

namespace dx::metrics {

constexpr int kCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED

namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

}  // namespace

const char* GrpcCodeName(int code) {
  static const char* const kNames[kCodes] = {"OK",
                                             "Canceled",
                                             "Unknown",
                                             "InvalidArgument",
                                             "DeadlineExceeded",
                                             "NotFound",
                                             "AlreadyExists",
                                             "PermissionDenied",
                                             "ResourceExhausted",
                                             "FailedPrecondition",
                                             "Aborted",
                                             "OutOfRange",
                                             "Unimplemented",
                                             "Internal",
                                             "Unavailable",
                                             "DataLoss",
                                             "Unauthenticated"};
  return code >= 0 && code < kCodes ? kNames[code] : "Unknown";
}

namespace {

const char* TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

// One method's series, made in the registry when first called (so that a
// scrape shows only what was called), then used with no lookup but the
// handled counter's first use per code.
struct MethodSeries {
  std::map<std::string, std::string> labels;
  std::once_flag made;
  prometheus::Counter* started = nullptr;
  prometheus::Histogram* seconds = nullptr;
  std::array<std::atomic<prometheus::Counter*>, kCodes> handled{};
};

class Families {
 public:
  Families(prometheus::Registry* registry,
           const std::vector<std::string>& services)
      : started_(prometheus::BuildCounter()
                     .Name("grpc_server_started_total")
                     .Help("RPCs started on the server.")
                     .Register(*registry)),
        handled_(prometheus::BuildCounter()
                     .Name("grpc_server_handled_total")
                     .Help("RPCs completed on the server, by status code.")
                     .Register(*registry)),
        seconds_(prometheus::BuildHistogram()
                     .Name("grpc_server_handling_seconds")
                     .Help("Time from an RPC's start to its status, seconds.")
                     .Register(*registry)) {
    std::vector<std::string> paths = {
        "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"};
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    for (const std::string& name : services) {
      const google::protobuf::ServiceDescriptor* s =
          pool->FindServiceByName(name);
      if (s == nullptr) continue;
      for (int i = 0; i < s->method_count(); ++i) {
        paths.push_back(absl::StrCat("/", name, "/", s->method(i)->name()));
      }
    }
    for (const std::string& path : paths) {
      const size_t slash = path.rfind('/');
      for (auto type : kTypes) {
        known_[{path, type}] =
            NewSeries(path.substr(1, slash - 1), path.substr(slash + 1), type);
      }
    }
    for (auto type : kTypes)
      unknown_[type] = NewSeries("unknown", "unknown", type);
  }

  // The series of `path` ("/package.Service/Method") called as `type`,
  // made in the registry if this is its first call.
  MethodSeries* Find(const std::string& path, ServerRpcInfo::Type type) {
    auto it = known_.find({path, type});
    MethodSeries* m =
        it != known_.end() ? it->second.get() : unknown_.at(type).get();
    std::call_once(m->made, [this, m] {
      m->started = &started_.Add(m->labels);
      m->seconds = &seconds_.Add(m->labels, LatencyBuckets());
    });
    return m;
  }

  prometheus::Counter* Handled(MethodSeries* m, int code) {
    if (code < 0 || code >= kCodes) code = 2;  // UNKNOWN
    prometheus::Counter* c = m->handled[code].load();
    if (c == nullptr) {
      auto labels = m->labels;
      labels["grpc_code"] = GrpcCodeName(code);
      c = &handled_.Add(labels);  // the family makes it once
      m->handled[code].store(c);
    }
    return c;
  }

 private:
  static constexpr ServerRpcInfo::Type kTypes[] = {
      ServerRpcInfo::Type::UNARY, ServerRpcInfo::Type::CLIENT_STREAMING,
      ServerRpcInfo::Type::SERVER_STREAMING,
      ServerRpcInfo::Type::BIDI_STREAMING};

  static std::unique_ptr<MethodSeries> NewSeries(const std::string& service,
                                                 const std::string& method,
                                                 ServerRpcInfo::Type type) {
    auto m = std::make_unique<MethodSeries>();
    m->labels = {{"grpc_type", TypeName(type)},
                 {"grpc_service", service},
                 {"grpc_method", method}};
    return m;
  }

  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  // Written in the constructor only, then read without a lock.
  std::map<std::pair<std::string, ServerRpcInfo::Type>,
           std::unique_ptr<MethodSeries>>
      known_;
  std::map<ServerRpcInfo::Type, std::unique_ptr<MethodSeries>> unknown_;
};

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(Families* families, MethodSeries* series)
      : families_(families),
        series_(series),
        start_ns_(std::chrono::steady_clock::now().time_since_epoch().count()) {
    series_->started->Increment();
  }
  ~MetricsInterceptor() override {
    // A call that ended with no status sent (the client went away).
    if (!done_.load()) Done(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      Done(m->GetSendStatus().error_code());
    }
    m->Proceed();
  }

 private:
  void Done(int code) {
    done_.store(true);
    families_->Handled(series_, code)->Increment();
    const int64_t now =
        std::chrono::steady_clock::now().time_since_epoch().count();
    series_->seconds->Observe(
        std::chrono::duration<double>(
            std::chrono::steady_clock::duration(now - start_ns_.load()))
            .count());
  }

  Families* const families_;
  MethodSeries* const series_;
  // Atomics: gRPC runs a call's hooks on threads it hands the call between
  // with lock-free queues, which ThreadSanitizer cannot see.
  std::atomic<int64_t> start_ns_;
  std::atomic<bool> done_{false};
};

class Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  Factory(prometheus::Registry* registry,
          const std::vector<std::string>& services)
      : families_(registry, services) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      ServerRpcInfo* info) override {
    return new MetricsInterceptor(&families_,
                                  families_.Find(info->method(), info->type()));
  }

 private:
  Families families_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcServerMetrics(prometheus::Registry* registry,
                     const std::vector<std::string>& services) {
  return std::make_unique<Factory>(registry, services);
}

}  // namespace dx::metrics
