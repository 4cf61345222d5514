// ConfigReloader: what a node puts in force again without a restart
// (docs/OPERATIONS.md, "Changes without a restart"), triggered by SIGHUP or
// by a watched file's change. Each Reloadable names its files and how to
// apply them; the reloader keeps their digests, applies one whose files
// changed, and records either outcome (gateway.reload, or
// gateway.reload-refused: the one in force stays). A watched change is
// taken once it has held for one look, so that a key and a certificate
// written one after the other are read together; a refused change is
// refused once and read again when it changes again. It knows nothing of
// what it reloads (gateway/node_reloads.h does). Thread-safe: one reload at
// a time, under its own lock.
#ifndef DX_GATEWAY_CONFIG_RELOADER_H_
#define DX_GATEWAY_CONFIG_RELOADER_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "audit/admin_recorder.h"

namespace dx::gateway {

class ConfigReloader {
 public:
  struct Reloadable {
    std::string name;  // "TLS certificate", ...
    std::vector<std::string> files;
    // Puts the files in force, saying what changed, or refuses them
    // (the one in force stays). `trigger`: why ("SIGHUP", "a change to
    // FILE").
    std::function<absl::StatusOr<std::string>(const std::string& trigger)>
        apply;
    // Its own records (the registry's RegistryAdmin writes them).
    bool records_itself = false;
  };
  // Takes the files' digests as they are now: in force since the start.
  // `recorder` must outlive the reloader; `actor` names its records.
  ConfigReloader(std::vector<Reloadable> reloadables,
                 audit::AdminRecorder* recorder, std::string actor);

  // Applies what changed since it was last seen. `trigger`: e.g.
  // "SIGHUP" (taken at once); empty for a look at the watched files.
  void Reload(const std::string& trigger) ABSL_LOCKS_EXCLUDED(mu_);
  // After the reload in progress, if any, none runs: the parts the
  // reloadables touch may go.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::vector<Reloadable> reloadables_;
  audit::AdminRecorder* const recorder_;
  const std::string actor_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::string> seen_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> settling_ ABSL_GUARDED_BY(mu_);
};

// The SHA-256 of the files' contents together ("missing" for one that
// cannot be read), to tell a change.
std::string FilesDigest(const std::vector<std::string>& files);

}  // namespace dx::gateway

#endif  // DX_GATEWAY_CONFIG_RELOADER_H_
