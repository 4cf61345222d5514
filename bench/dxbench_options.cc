#include "bench/dxbench_options.h"

#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "cli/flags.h"

namespace dx::bench {
namespace {

constexpr char kHelp[] = R"(usage: dxbench --target HOST:PORT [flags]

  --mode gateway|direct     what to call (default gateway)
  --pki DIR                 dev PKI; with --agency CODE (gateway mode) or the
                            gateway's certificate (direct mode)
  --ca --cert --key         or the files themselves
  --sign-cert --sign-key    the agency's signing certificate and key
  --agency CODE --system ID --dataset ID --purpose CODE
  --field NAME (repeatable) --query KEY=VALUE (repeatable)
  --concurrency N           calls in flight, closed loop (default 64)
  --rate R                  open loop at R calls/s instead
  --duration S --warmup S   timed run and warm-up, seconds (default 10, 2)
  --requests N              stop after N calls instead of a duration
  --channels C              gRPC channels (default 4)
  --stream                  the streaming RPC (counts records and bytes)
  --max-records N           ask for at most N records per call
  --sign-live               sign each request when it is sent
  --tls-name NAME           TLS name to check (default localhost)
  --label TEXT              name of this run in the output
  --retries N               retry a call refused with UNAVAILABLE up to N times,
                            each with a new request (a cluster node went away)
  --receipts FILE           write "node sequence request_id" for each answer
  --cpu NAME=PID            report PID's CPU time per call in the timed window
                            as NAME (repeatable; not with --requests)

--target takes one node, several (a:1,b:2,c:3: round robin over the healthy
ones), or dns:///NAME:PORT.
)";

}  // namespace

std::optional<Options> ParseOptions(const std::vector<std::string>& args) {
  auto f = cli::Flags::Parse(
      args, {"target",      "mode",      "pki",      "ca",       "cert",
             "key",         "sign-cert", "sign-key", "agency",   "system",
             "dataset",     "purpose",   "field",    "query",    "concurrency",
             "rate",        "duration",  "warmup",   "requests", "channels",
             "max-records", "tls-name",  "label",    "retries",  "receipts",
             "cpu"},
      {"stream", "sign-live", "help"});
  if (!f.ok() || f->Has("help") || !f->Has("target")) {
    if (!f.ok()) std::cerr << "dxbench: " << f.status().message() << "\n";
    std::cerr << kHelp;
    return std::nullopt;
  }
  Options o;
  o.target = f->Get("target");
  o.mode = f->Get("mode", "gateway");
  o.label = f->Get("label");
  const std::string pki = f->Get("pki");
  o.agency = f->Get("agency", "000.00.00.H30");
  if (!pki.empty()) {
    o.ca = pki + "/root-ca.pem";
    const std::string who =
        o.mode == "direct" ? pki + "/gateway" : pki + "/agencies/" + o.agency;
    o.cert = who + "/tls.pem";
    o.key = who + "/tls.key";
    o.sign_cert = pki + "/agencies/" + o.agency + "/sign.pem";
    o.sign_key = pki + "/agencies/" + o.agency + "/sign.key";
  }
  o.ca = f->Get("ca", o.ca);
  o.cert = f->Get("cert", o.cert);
  o.key = f->Get("key", o.key);
  o.sign_cert = f->Get("sign-cert", o.sign_cert);
  o.sign_key = f->Get("sign-key", o.sign_key);
  o.system = f->Get("system", "hotich");
  o.dataset = f->Get("dataset", "bca.population");
  o.purpose = f->Get("purpose", "civil-registration");
  o.fields = f->GetAll("field");
  for (const auto& q : f->GetAll("query")) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(q, absl::MaxSplits('=', 1));
    o.query[kv.first] = kv.second;
  }
  (void)absl::SimpleAtoi(f->Get("concurrency", "64"), &o.concurrency);
  (void)absl::SimpleAtoi(f->Get("channels", "4"), &o.channels);
  (void)absl::SimpleAtod(f->Get("rate", "0"), &o.rate);
  (void)absl::SimpleAtod(f->Get("duration", "10"), &o.duration);
  (void)absl::SimpleAtod(f->Get("warmup", "2"), &o.warmup);
  (void)absl::SimpleAtoi(f->Get("requests", "0"), &o.requests);
  (void)absl::SimpleAtoi(f->Get("max-records", "0"), &o.max_records);
  (void)absl::SimpleAtoi(f->Get("retries", "0"), &o.retries);
  o.receipts = f->Get("receipts");
  for (const auto& c : f->GetAll("cpu")) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(c, absl::MaxSplits('=', 1));
    int pid = 0;
    if (kv.first.empty() || !absl::SimpleAtoi(kv.second, &pid) || pid <= 0) {
      std::cerr << "dxbench: --cpu takes NAME=PID, not " << c << "\n" << kHelp;
      return std::nullopt;
    }
    o.cpu_pids[kv.first] = pid;
  }
  o.tls_name = f->Get("tls-name", "localhost");
  o.stream = f->Has("stream");
  o.sign_live = f->Has("sign-live");
  if (o.requests) {
    o.warmup = 0;
    o.duration = 1e6;
    o.concurrency =
        static_cast<int>(std::min<uint64_t>(o.concurrency, o.requests));
  }
  return o;
}

}  // namespace dx::bench
