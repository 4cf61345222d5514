#include "gateway/housekeeping.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "audit/audit_reader.h"
#include "audit/pruner.h"
#include "audit/serving_log.h"
#include "authz/call_gate.h"
#include "certs/trust_store.h"
#include "common/log.h"
#include "gateway/admin_recorder.h"
#include "gateway/config_reloader.h"
#include "gateway/exchange_service.h"
#include "gateway/node_components.h"
#include "gateway/readiness.h"
#include "gateway/statistics_push.h"
#include "gateway/tree_head_stamping.h"
#include "gateway/witness_submitter.h"

namespace dx::gateway {
namespace {

void Log(const std::string& line) { LogEvent("dxgate", "info", line); }

void ReloadCrls(certs::TrustStore* trust) {
  bool reloaded = false;
  absl::Status s = trust->ReloadCrlsIfChanged(&reloaded);
  if (!s.ok()) {
    Log(absl::StrCat("CRL reload failed, keeping the old: ", s.message()));
  }
  if (reloaded) {
    Log(absl::StrCat("CRLs reloaded (generation ", trust->crl_generation(),
                     ")"));
  }
}

void ResumePrune(audit::Pruner* pruner) {
  auto resumed = pruner->Resume();
  if (!resumed.ok()) {
    Log(absl::StrCat("the interrupted prune is not finished: ",
                     resumed.status().message()));
  } else if (resumed->resumed()) {
    Log(absl::StrCat(
        "finished an interrupted prune: ", resumed->pruned_records(),
        " more records pruned, first kept ", resumed->first_kept_sequence()));
  }
}

}  // namespace

std::vector<BackgroundTasks::Task> HousekeepingDuties(
    NodeComponents* parts, ConfigReloader* reloader) {
  NodeComponents& c = *parts;
  std::vector<BackgroundTasks::Task> out;
  // Health calls and exchanges refresh readiness themselves.
  out.push_back({"dx-readiness", absl::Milliseconds(200),
                 [&c] { (void)c.readiness->Check(); }});
  // Real time: a file changes in it.
  out.push_back(
      {"dx-watch", absl::Seconds(1), [reloader] { reloader->Reload(""); }});
  out.push_back({"dx-crl",
                 absl::Seconds(std::max<uint32_t>(
                     1, c.config.trust().crl_reload_seconds())),
                 [&c] { ReloadCrls(c.trust.get()); }, /*run_at_start=*/true});
  out.push_back({"dx-overload", absl::Seconds(10), [&c] {
                   const uint64_t n = c.exchange->TakeOverloadRefusals();
                   if (n == 0) return;
                   const std::string what = absl::StrCat(
                       n,
                       " exchange(s) refused with RESOURCE_EXHAUSTED in the "
                       "last 10 s: more than max_in_flight (",
                       c.config.max_in_flight(), ") in flight");
                   Log(what);
                   (void)c.recorder->RecordForNode("gateway.overload", what);
                 }});
  out.push_back({"dx-refusals", absl::Seconds(10),
                 [&c] { c.gate->RecordRefusalCounts(/*all=*/false); }});
  // The node's serving state, for the availability of statistics reports:
  // several notes a minute, so that a not-ready spell of a few seconds
  // marks its minute down.
  auto serving =
      std::make_shared<audit::ServingLog>(c.state_db.get(), c.clock->Now());
  out.push_back({"dx-serving", absl::Seconds(5),
                 [&c, serving] {
                   absl::Status s =
                       serving->Note(c.clock->Now(), c.readiness->Why().ok());
                   if (!s.ok()) Log(std::string(s.message()));
                 },
                 /*run_at_start=*/true});
  if (c.stamper != nullptr) out.push_back(TreeHeadStampingDuty(c.stamper));
  const v1::WitnessConfig& wc = c.config.witness();
  if (wc.peers_size() > 0) {
    // Its own reader: the duty reads tree heads and proofs on its thread.
    auto reader = std::make_shared<audit::AuditReader>(c.state_db.get());
    WitnessSubmitter::Deps d;
    d.config = wc;
    d.reader = reader.get();
    d.db = c.state_db.get();
    d.log_signer = c.log_signer;
    d.post = WitnessSubmitter::HttpsPost(10);
    auto submitter = WitnessSubmitter::Create(std::move(d));
    if (submitter.ok()) {
      std::shared_ptr<WitnessSubmitter> shared = *std::move(submitter);
      out.push_back({"dx-witness-submit",
                     absl::Seconds(wc.submit_interval_seconds()),
                     [reader, shared] { shared->Tick(); },
                     /*run_at_start=*/true});
    } else {  // the start checked the peers (StartWitnessPort)
      Log(std::string(submitter.status().message()));
    }
  }
  return out;
}

Housekeeping::Housekeeping(NodeComponents* parts, ConfigReloader* reloader)
    : parts_(parts),
      tasks_(HousekeepingDuties(parts, reloader)),
      prune_resumer_([p = parts->pruner.get()] { ResumePrune(p); }) {
  const v1::StatisticsPushConfig& push = parts->config.statistics_push();
  if (!push.url().empty()) {
    reader_ = std::make_unique<audit::AuditReader>(parts->state_db.get());
    StatisticsPush::Deps d;
    d.config = push;
    d.reader = reader_.get();
    d.db = parts->state_db.get();
    d.signer = parts->log_signer;
    d.recorder = parts->recorder.get();
    d.clock = parts->clock;
    d.node_id = parts->config.node_id();
    d.post = StatisticsPush::HttpsPost(push);
    push_ = std::make_unique<StatisticsPush>(std::move(d));
  }
}

void Housekeeping::Stop() {
  if (push_ != nullptr) push_->Stop();
  tasks_.Stop();
}

Housekeeping::~Housekeeping() {
  Stop();
  // A prune (resumed, or an auditor's under way) stops where it can resume.
  parts_->pruner->Stop();
  prune_resumer_.join();
}

}  // namespace dx::gateway
