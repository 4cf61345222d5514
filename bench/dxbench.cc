// dxbench: a load generator for dxgate and its peers, on gRPC's callback
// API: many calls in flight over several channels, closed loop (fixed
// concurrency) or open loop (fixed rate; latency counted from each call's
// scheduled start, so a stall is not hidden by coordinated omission).
//
//   dxbench --target HOST:PORT --mode gateway|direct [flags]
//
// gateway: dx.v1.Exchange (Call or Stream) with signed requests, signed from
//          a pool before the timed run (or live with --sign-live);
// direct:  dx.v1.Adapter (Fetch or FetchStream), as the gateway would call
//          the adapter (needs a gateway certificate: the adapter admits only
//          gateways).
// Prints a human summary and one JSON line; exits 1 when any call failed
// unexpectedly (a failed run is reported as failed, not as fast).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/dxbench_options.h"
#include "bench/histogram.h"
#include "bench/process_cpu.h"
#include "certs/crypto.h"
#include "cli/agency_client.h"
#include "cli/target.h"
#include "common/files.h"
#include "dx/v1/adapter.grpc.pb.h"
#include "dx/v1/exchange.grpc.pb.h"

namespace dx::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Everything the calls record; guarded by a mutex (tens of thousands of
// calls a second at most; the lock is never the bottleneck).
struct Results {
  std::mutex mu;
  Histogram latency;
  std::map<std::string, uint64_t> errors;
  std::map<std::string, std::string> first_message;  // per code, for people
  uint64_t ok = 0, records = 0, bytes = 0;
};

class Runner {
 public:
  explicit Runner(Options o) : o_(std::move(o)) {}

  absl::Status Setup() {
    if (!o_.receipts.empty()) {
      receipts_ = std::fopen(o_.receipts.c_str(), "w");
      if (receipts_ == nullptr) {
        return absl::NotFoundError("cannot write " + o_.receipts);
      }
    }
    grpc::SslCredentialsOptions ssl;
    auto ca = ReadFile(o_.ca);
    auto cert = ReadFile(o_.cert);
    auto key = ReadFile(o_.key);
    if (!ca.ok()) return ca.status();
    if (!cert.ok()) return cert.status();
    if (!key.ok()) return key.status();
    ssl.pem_root_certs = *ca;
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
    for (int i = 0; i < o_.channels; ++i) {
      grpc::ChannelArguments args;
      args.SetSslTargetNameOverride(o_.tls_name);
      args.SetMaxReceiveMessageSize(256 << 20);
      args.SetInt("dxbench.channel",
                  i);  // distinct channels, distinct connections
      const std::string target = cli::GatewayTarget(o_.target, &args);
      auto ch =
          grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
      exchange_.push_back(v1::Exchange::NewStub(ch));
      adapter_.push_back(v1::Adapter::NewStub(ch));
    }
    if (o_.mode == "gateway") {
      auto signer = certs::Signer::FromFiles(o_.sign_key, o_.sign_cert);
      if (!signer.ok()) return signer.status();
      signer_ = *std::move(signer);
      if (!o_.sign_live) {
        // Enough signed requests for the whole run at a generous rate.
        const uint64_t n =
            o_.requests
                ? o_.requests + o_.concurrency
                : static_cast<uint64_t>((o_.duration + o_.warmup) *
                                        (o_.rate > 0 ? o_.rate * 1.1 : 20000));
        std::fprintf(stderr,
                     "dxbench: signing %lu requests before the run ...\n",
                     static_cast<unsigned long>(n));
        pool_.reserve(n);
        for (uint64_t i = 0; i < n; ++i) pool_.push_back(*NewSigned());
      }
    }
    return absl::OkStatus();
  }

  void Run() {
    start_ = SteadyClock::now();
    warm_end_ = start_ + Seconds(o_.warmup);
    end_ = warm_end_ + Seconds(o_.duration);
    std::thread cpu_sampler;
    if (!o_.cpu_pids.empty() && o_.requests == 0) {
      cpu_sampler = std::thread([this] { SampleCpu(); });
    }
    if (o_.rate > 0) {
      RunOpenLoop();
    } else {
      for (int i = 0; i < o_.concurrency && TryReserve(SteadyClock::now());
           ++i) {
        Launch(SteadyClock::now());
      }
      std::lock_guard<std::mutex> lock(done_mu_);
      pacer_done_ = true;
    }
    std::unique_lock<std::mutex> lock(done_mu_);
    done_cv_.wait(lock, [&] { return in_flight_ == 0 && pacer_done_; });
    measured_end_ = std::min(SteadyClock::now(), end_);
    lock.unlock();
    if (cpu_sampler.joinable()) cpu_sampler.join();
  }

  // The CPU seconds each --cpu process used between the end of the warm-up
  // and the end of the timed window, and that window's length.
  void SampleCpu() {
    auto sample = [this] {
      std::map<std::string, double> at;
      for (const auto& [name, pid] : o_.cpu_pids) {
        absl::StatusOr<double> s = ProcessCpuSeconds(pid);
        at[name] = s.ok() ? *s : -1;  // gone: reported as unknown
      }
      return at;
    };
    std::this_thread::sleep_until(warm_end_);
    const auto t0 = SteadyClock::now();
    std::map<std::string, double> before = sample();
    std::this_thread::sleep_until(end_);
    const auto t1 = SteadyClock::now();
    std::map<std::string, double> after = sample();
    cpu_window_s_ = std::chrono::duration<double>(t1 - t0).count();
    for (const auto& [name, b] : before) {
      cpu_s_[name] = b < 0 || after[name] < 0 ? -1 : after[name] - b;
    }
  }

  int Report() {
    std::lock_guard<std::mutex> lock(results_.mu);
    const double secs = std::chrono::duration<double>(
                            (o_.requests ? measured_end_ : end_) - warm_end_)
                            .count();
    const double tput = results_.ok / std::max(secs, 1e-9);
    uint64_t errors = 0;
    std::string err_json;
    for (const auto& [code, n] : results_.errors) {
      errors += n;
      std::fprintf(stderr, "dxbench: %lu x %s, the first: %s\n",
                   static_cast<unsigned long>(n), code.c_str(),
                   results_.first_message[code].c_str());
      absl::StrAppend(&err_json, err_json.empty() ? "" : ",", "\"", code,
                      "\":", n);
    }
    const Histogram& h = results_.latency;
    std::printf(
        "%-28s %9.0f calls/s  p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms  p99.9 "
        "%7.2f ms  ok %lu  errors %lu%s\n",
        o_.label.empty() ? o_.mode.c_str() : o_.label.c_str(), tput,
        h.Percentile(0.5) / 1000.0, h.Percentile(0.9) / 1000.0,
        h.Percentile(0.99) / 1000.0, h.Percentile(0.999) / 1000.0,
        static_cast<unsigned long>(results_.ok),
        static_cast<unsigned long>(errors), errors ? "  FAILED" : "");
    if (o_.stream) {
      std::printf(
          "%-28s %9.0f records/s  %7.1f MB/s  (%lu records, %lu bytes)\n", "",
          results_.records / secs, results_.bytes / secs / 1e6,
          static_cast<unsigned long>(results_.records),
          static_cast<unsigned long>(results_.bytes));
    }
    // CPU per call of each --cpu process: its CPU seconds in the window
    // over the calls the window saw (throughput x window).
    std::string cpu_json, cpu_text;
    for (const auto& [name, cpu] : cpu_s_) {
      const double calls = tput * cpu_window_s_;
      const double us = cpu < 0 || calls <= 0 ? -1 : cpu * 1e6 / calls;
      absl::StrAppend(&cpu_json, cpu_json.empty() ? "" : ",", "\"", name,
                      "\":", absl::StrFormat("%.1f", us));
      absl::StrAppend(&cpu_text, cpu_text.empty() ? "" : ", ", name, " ",
                      absl::StrFormat("%.0f", us), " us");
    }
    if (!cpu_text.empty()) {
      std::printf("%-28s CPU per call: %s\n", "", cpu_text.c_str());
    }
    std::printf(
        "{\"label\":\"%s\",\"mode\":\"%s\",\"throughput\":%.1f,\"p50_us\":%lu,"
        "\"p90_us\":%lu,"
        "\"p99_us\":%lu,\"p999_us\":%lu,\"max_us\":%lu,\"ok\":%lu,\"errors\":{%"
        "s},"
        "\"records\":%lu,\"bytes\":%lu,\"seconds\":%.3f,\"retried\":%lu,"
        "\"cpu_us_per_call\":{%s}}\n",
        o_.label.c_str(), o_.mode.c_str(), tput, h.Percentile(0.5),
        h.Percentile(0.9), h.Percentile(0.99), h.Percentile(0.999), h.max(),
        static_cast<unsigned long>(results_.ok), err_json.c_str(),
        static_cast<unsigned long>(results_.records),
        static_cast<unsigned long>(results_.bytes), secs,
        static_cast<unsigned long>(retried_.load()), cpu_json.c_str());
    if (receipts_ != nullptr) std::fflush(receipts_);
    return errors == 0 && results_.ok > 0 ? 0 : 1;
  }

 private:
  static SteadyClock::duration Seconds(double s) {
    return std::chrono::duration_cast<SteadyClock::duration>(
        std::chrono::duration<double>(s));
  }

  absl::StatusOr<v1::SignedRequest> NewSigned() {
    cli::RequestParams p;
    p.consumer_agency = o_.agency;
    p.consumer_system = o_.system;
    p.dataset_id = o_.dataset;
    p.purpose_code = o_.purpose;
    p.fields = o_.fields;
    p.query = o_.query;
    p.max_records = static_cast<uint32_t>(o_.max_records);
    p.lifetime = absl::Minutes(10);
    return cli::SignEnvelope(cli::BuildEnvelope(p), *signer_);
  }

  // The next request (pool first, then signed on the spot).
  bool NextRequest(v1::SignedRequest* out) {
    const uint64_t i = next_.fetch_add(1);
    if (i < pool_.size()) {
      *out = std::move(pool_[i]);
      return true;
    }
    std::lock_guard<std::mutex> lock(sign_mu_);
    auto r = NewSigned();
    if (!r.ok()) return false;
    *out = *std::move(r);
    return true;
  }

  // Whether another call may start (and, with --requests, takes its slot).
  bool TryReserve(SteadyClock::time_point now) {
    if (o_.requests) return launched_.fetch_add(1) < o_.requests;
    return now < end_;
  }

  void Finish(SteadyClock::time_point scheduled, const grpc::Status& s,
              uint64_t records, uint64_t bytes) {
    const auto now = SteadyClock::now();
    // With a duration: closed loop counts calls that end inside the timed
    // window (throughput); open loop counts every call scheduled in it, so
    // slow ones that end late are not left out of the latency.
    const bool counted = o_.requests != 0 || (scheduled >= warm_end_ &&
                                              (o_.rate > 0 || now <= end_));
    if (counted) {
      std::lock_guard<std::mutex> lock(results_.mu);
      if (s.ok()) {
        ++results_.ok;
        results_.records += records;
        results_.bytes += bytes;
        results_.latency.Record(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now -
                                                                  scheduled)
                .count()));
      } else {
        const std::string code = cli::GrpcCodeName(s.error_code());
        if (++results_.errors[code] == 1) {
          results_.first_message[code] = s.error_message();
        }
      }
    }
    // Closed loop: the next call starts before this one is counted out, so
    // in-flight never touches zero while the run goes on.
    if (o_.rate <= 0 && TryReserve(now)) Launch(now);
    std::lock_guard<std::mutex> lock(done_mu_);
    if (--in_flight_ == 0) done_cv_.notify_all();
  }

  v1::AdapterRequest DirectRequest() const {
    v1::AdapterRequest r;
    r.set_request_id("dxbench");
    r.set_dataset_id(o_.dataset);
    r.set_consumer_agency(o_.agency);
    r.set_purpose_code(o_.purpose);
    for (const auto& f : o_.fields) r.add_fields(f);
    for (const auto& [k, v] : o_.query) (*r.mutable_query())[k] = v;
    r.set_max_records(static_cast<uint32_t>(o_.max_records));
    r.set_batch_rows(1000);
    return r;
  }

  // One streamed call: counts batches' records and bytes.
  template <typename Msg>
  class StreamCall : public grpc::ClientReadReactor<Msg> {
   public:
    StreamCall(Runner* r, SteadyClock::time_point scheduled)
        : r_(r), scheduled_(scheduled) {}
    grpc::ClientContext ctx;
    void Go() {
      this->StartRead(&msg_);
      this->StartCall();
    }
    void OnReadDone(bool ok) override {
      if (!ok) return;
      Count();
      this->StartRead(&msg_);
    }
    void OnDone(const grpc::Status& s) override {
      r_->Finish(scheduled_, s, records_, bytes_);
      delete this;
    }

   private:
    void Count();
    Runner* r_;
    SteadyClock::time_point scheduled_;
    Msg msg_;
    uint64_t records_ = 0, bytes_ = 0;
  };

  void Launch(SteadyClock::time_point scheduled) {
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      ++in_flight_;
    }
    const size_t ch = rr_.fetch_add(1) % exchange_.size();
    const auto deadline = std::chrono::system_clock::now() +
                          std::chrono::seconds(o_.stream ? 600 : 30);
    if (o_.mode == "gateway") {
      auto* req = new v1::SignedRequest();
      if (!NextRequest(req)) {
        delete req;
        Finish(scheduled,
               grpc::Status(grpc::StatusCode::INTERNAL, "cannot sign"), 0, 0);
        return;
      }
      if (o_.stream) {
        auto* call = new StreamCall<v1::StreamMessage>(this, scheduled);
        call->ctx.set_deadline(deadline);
        exchange_[ch]->async()->Stream(&call->ctx, req, call);
        call->Go();
        delete req;  // the request is serialized when the call starts
        return;
      }
      CallGateway(ch, req, scheduled, 0);
      return;
    }
    auto* req = new v1::AdapterRequest(DirectRequest());
    if (o_.stream) {
      auto* call = new StreamCall<v1::RecordBatch>(this, scheduled);
      call->ctx.set_deadline(deadline);
      adapter_[ch]->async()->FetchStream(&call->ctx, req, call);
      call->Go();
      delete req;
      return;
    }
    auto* ctx = new grpc::ClientContext();
    ctx->set_deadline(deadline);
    auto* resp = new v1::AdapterResponse();
    adapter_[ch]->async()->Fetch(
        ctx, req, resp, [this, ctx, req, resp, scheduled](grpc::Status s) {
          const uint64_t n = resp->records().rows_size();
          const uint64_t bytes = resp->ByteSizeLong();
          delete ctx;
          delete req;
          delete resp;
          Finish(scheduled, s, n, bytes);
        });
  }

  // One unary exchange; on UNAVAILABLE (a node went away) it is retried
  // with a new request (the same one would be a replay) on the next
  // channel, up to --retries times.
  void CallGateway(size_t ch, v1::SignedRequest* req,
                   SteadyClock::time_point scheduled, int attempt) {
    auto* ctx = new grpc::ClientContext();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(30));
    // A retry waits for a node that is up rather than failing at once on
    // the one that just went (its channel may not have noticed yet).
    ctx->set_wait_for_ready(attempt > 0);
    auto* resp = new v1::SignedResponse();
    exchange_[ch]->async()->Call(
        ctx, req, resp,
        [this, ch, ctx, req, resp, scheduled, attempt](grpc::Status s) {
          delete ctx;
          if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
              attempt < o_.retries && NextRequest(req)) {
            delete resp;
            retried_.fetch_add(1);
            // Each channel balances over every node: a retry sent at once
            // may go to the node that just went away, over a connection its
            // channel has not yet seen reset. A short wait (rare: only
            // after UNAVAILABLE) lets the channel notice.
            std::this_thread::sleep_for(
                std::chrono::milliseconds(20 * (attempt + 1)));
            CallGateway((ch + 1) % exchange_.size(), req, scheduled,
                        attempt + 1);
            return;
          }
          const uint64_t n = s.ok() ? 1 : 0;
          const uint64_t bytes = resp->envelope().size();
          if (s.ok() && receipts_ != nullptr) {
            v1::ResponseEnvelope env;
            if (env.ParseFromString(resp->envelope())) {
              std::lock_guard<std::mutex> lock(receipts_mu_);
              std::fprintf(
                  receipts_, "%s %lu %s\n", env.receipt().node_id().c_str(),
                  static_cast<unsigned long>(env.receipt().sequence_number()),
                  env.request_id().c_str());
            }
          }
          delete req;
          delete resp;
          Finish(scheduled, s, n, bytes);
        });
  }

  void RunOpenLoop() {
    const auto interval = Seconds(1.0 / o_.rate);
    auto next = start_;
    while (next < end_) {
      std::this_thread::sleep_until(next);
      Launch(next);  // latency counts from `next`, not from when it went out
      next += interval;
    }
    std::lock_guard<std::mutex> lock(done_mu_);
    pacer_done_ = true;
    done_cv_.notify_all();
  }

  Options o_;
  std::vector<std::unique_ptr<v1::Exchange::Stub>> exchange_;
  std::vector<std::unique_ptr<v1::Adapter::Stub>> adapter_;
  std::unique_ptr<certs::Signer> signer_;
  std::vector<v1::SignedRequest> pool_;
  std::atomic<uint64_t> next_{0}, launched_{0}, rr_{0}, retried_{0};
  std::FILE* receipts_ = nullptr;  // --receipts: one line per answered call
  std::mutex receipts_mu_;
  std::mutex sign_mu_;
  SteadyClock::time_point start_, warm_end_, end_, measured_end_;
  // SampleCpu's: written before Run() returns, read by Report().
  std::map<std::string, double> cpu_s_;  // -1: the process was gone
  double cpu_window_s_ = 0;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  int64_t in_flight_ = 0;
  bool pacer_done_ = false;
  Results results_;
};

template <>
void Runner::StreamCall<v1::StreamMessage>::Count() {
  if (msg_.has_batch()) {
    v1::RecordBatch b;
    b.ParseFromString(msg_.batch());
    records_ += b.rows_size();
    bytes_ += msg_.batch().size();
  }
}

template <>
void Runner::StreamCall<v1::RecordBatch>::Count() {
  records_ += msg_.rows_size();
  bytes_ += msg_.ByteSizeLong();
}

int Main(int argc, char** argv) {
  std::optional<Options> o =
      ParseOptions(std::vector<std::string>(argv + 1, argv + argc));
  if (!o) return 2;
  Runner runner(*o);
  if (absl::Status s = runner.Setup(); !s.ok()) {
    std::cerr << "dxbench: " << s.message() << "\n";
    return 2;
  }
  runner.Run();
  const int rc = runner.Report();
  // gRPC 1.51's shared callback queue can free itself twice when the last
  // channel goes away while one of gRPC's threads is still returning from
  // our last callback (ASan saw it at exit in 2 runs of 25). Those threads
  // need microseconds; give them far more before the channels go.
  absl::SleepFor(absl::Milliseconds(200));
  return rc;
}

}  // namespace
}  // namespace dx::bench

// OpenSSL 3 leaks the per-thread error state (904 bytes) of a thread that
// exits after using it in some orders of exit (openssl/openssl#24357,
// grpc/grpc#38539): dxbench's gRPC threads do, at random, when its channels
// go. LeakSanitizer then fails an ASan test run on a leak that is neither
// ours nor growing. Suppressed for dxbench alone (a benchmark client); the
// gateway, adapters and dxctl stay fully checked. Read by LeakSanitizer at
// exit; unused in other builds.
extern "C" __attribute__((used, visibility("default"))) const char*
__lsan_default_suppressions() {
  return "leak:CRYPTO_zalloc\n";
}

int main(int argc, char** argv) { return dx::bench::Main(argc, argv); }
