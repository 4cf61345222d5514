#include "gateway/config_reloader.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/crypto.h"
#include "common/bytes.h"
#include "common/files.h"
#include "common/log.h"

namespace dx::gateway {

std::string FilesDigest(const std::vector<std::string>& files) {
  std::string all;
  for (const std::string& f : files) {
    auto text = ReadFile(f);
    absl::StrAppend(&all, f, "\n",
                    text.ok() ? HexEncode(certs::Sha256(*text)) : "missing",
                    "\n");
  }
  return HexEncode(certs::Sha256(all));
}

ConfigReloader::ConfigReloader(std::vector<Reloadable> reloadables,
                               audit::AdminRecorder* recorder,
                               std::string actor)
    : reloadables_(std::move(reloadables)),
      recorder_(recorder),
      actor_(std::move(actor)) {
  absl::MutexLock lock(&mu_);
  for (const Reloadable& r : reloadables_) seen_[r.name] = FilesDigest(r.files);
}

void ConfigReloader::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

void ConfigReloader::Reload(const std::string& trigger) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  int changed = 0;
  for (const Reloadable& r : reloadables_) {
    const std::string digest = FilesDigest(r.files);
    if (digest == seen_[r.name]) {
      settling_.erase(r.name);
      continue;
    }
    // A watched change is taken once it has held for a look.
    if (trigger.empty() && settling_[r.name] != digest) {
      settling_[r.name] = digest;
      continue;
    }
    settling_.erase(r.name);
    // Seen, accepted or not: a refused file is refused once, and read
    // again when it changes again.
    seen_[r.name] = digest;
    ++changed;
    const std::string why =
        trigger.empty()
            ? absl::StrCat("a change to ", absl::StrJoin(r.files, ", "))
            : trigger;
    absl::StatusOr<std::string> done = r.apply(why);
    if (done.ok()) {
      LogEvent("dxgate", "info",
               absl::StrCat(r.name, " reloaded (", why, "): ", *done));
      if (!r.records_itself) {
        (void)recorder_->Record(actor_, "gateway.reload",
                                absl::StrCat(r.name, " (", why, "): ", *done));
      }
    } else {
      LogEvent(
          "dxgate", "warning",
          absl::StrCat(r.name, " NOT reloaded (", why,
                       "), the one in force stays: ", done.status().message()));
      if (!r.records_itself) {
        (void)recorder_->Record(
            actor_, "gateway.reload-refused",
            absl::StrCat(r.name, " (", why, "), the one in force stays: ",
                         done.status().message()));
      }
    }
  }
  if (changed == 0 && !trigger.empty()) {
    LogEvent("dxgate", "info",
             absl::StrCat(trigger, ": no watched file changed"));
  }
}

}  // namespace dx::gateway
