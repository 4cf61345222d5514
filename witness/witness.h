// A witness's core (c2sp.org/tlog-witness add-checkpoint, without the HTTP
// transport yet): for each log it knows (origin -> trusted log keys) it
// keeps the latest checkpoint it cosigned, and cosigns a new one only when
// a consistency proof shows it extends that one. Its answers are the
// spec's HTTP statuses, so an HTTP front end only copies them out:
//   400 a malformed request (or old size above the checkpoint's size),
//   404 an unknown origin, 403 no trusted log signature verifies,
//   409 the old size is not the size last cosigned (the body says which),
//       or the same size with another root (a rewritten log),
//   422 the consistency proof does not verify (a fork or a rewrite).
// Refusals a log's misbehaviour explains (409 same size other root, 422)
// are flagged as evidence, for the alarm and the audit record a caller
// adds. The check and the update happen under one lock, so two concurrent
// requests can never roll the recorded size back. The latest checkpoints
// live in a WitnessStore (witness/store.h): a cosignature is returned only
// after its checkpoint is saved there, and Open reloads them, so a witness
// restarted still holds the sizes it cosigned. Thread-safe.
#ifndef DX_WITNESS_WITNESS_H_
#define DX_WITNESS_WITNESS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "witness/checkpoint.h"
#include "witness/cosignature.h"
#include "witness/note.h"
#include "witness/store.h"

namespace dx::witness {

// The spec's bound on consistency proof lines.
inline constexpr size_t kMaxProofLines = 63;

// An add-checkpoint request body: "old N\n", proof lines, "\n", checkpoint.
struct AddCheckpointRequest {
  uint64_t old_size = 0;
  std::vector<std::string> proof;  // 32-byte hashes
  std::string checkpoint;          // the signed note
};
absl::StatusOr<AddCheckpointRequest> ParseAddCheckpointRequest(
    absl::string_view body);
std::string FormatAddCheckpointRequest(const AddCheckpointRequest& request);

// What the witness answers.
struct AddCheckpointResponse {
  int http_status = 500;
  std::string content_type;  // "text/x.tlog.size" on a size conflict
  std::string body;          // cosignature lines on 200
  std::string reason;        // for people and the audit log
  // The log signed something inconsistent with what it showed before.
  bool evidence_of_misbehaviour = false;
  // The checkpoint's origin once it parsed and is witnessed here ("" for
  // an unknown origin, so that it can label metrics: a bounded set).
  std::string origin;
  // With evidence_of_misbehaviour: the request's old size, the checkpoint
  // cosigned before and the one refused (both notes signed by the log).
  uint64_t old_size = 0;
  WitnessedCheckpoint cosigned;
  WitnessedCheckpoint submitted;
};

class Witness final {
 public:
  struct Log {
    std::string origin;
    // The log's keys (ECDSA type 0x02 usually); owned.
    std::vector<std::unique_ptr<NoteVerifier>> keys;
  };
  // `clock` is not owned and must outlive the witness. Keeps its state in
  // memory only (an InMemoryWitnessStore): for tests.
  Witness(std::unique_ptr<Cosigner> cosigner, std::vector<Log> logs,
          const Clock* clock);
  // The same over `store`, whose saved checkpoints it loads first.
  static absl::StatusOr<std::unique_ptr<Witness>> Open(
      std::unique_ptr<Cosigner> cosigner, std::vector<Log> logs,
      const Clock* clock, std::unique_ptr<WitnessStore> store);

  AddCheckpointResponse AddCheckpoint(absl::string_view body)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The latest checkpoint cosigned for `origin`, or NotFound.
  absl::StatusOr<WitnessedCheckpoint> Latest(absl::string_view origin) const
      ABSL_LOCKS_EXCLUDED(mu_);

  const Cosigner& cosigner() const { return *cosigner_; }

 private:
  struct KnownLog {
    std::vector<std::unique_ptr<NoteVerifier>> keys;
    std::vector<const NoteVerifier*> key_views;
  };

  Witness(std::unique_ptr<Cosigner> cosigner, std::vector<Log> logs,
          const Clock* clock, std::unique_ptr<WitnessStore> store);

  // The steps of AddCheckpoint once the request parsed: the origin's
  // lookup, the log's signature, then the state under the lock.
  AddCheckpointResponse Verified(const AddCheckpointRequest& request,
                                 const Note& note, const Checkpoint& checkpoint)
      ABSL_LOCKS_EXCLUDED(mu_);
  AddCheckpointResponse Checked(const AddCheckpointRequest& request,
                                const Note& note, const Checkpoint& checkpoint,
                                const KnownLog& log) ABSL_LOCKS_EXCLUDED(mu_);
  AddCheckpointResponse AddLocked(const AddCheckpointRequest& request,
                                  const Note& note,
                                  const Checkpoint& checkpoint)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<Cosigner> cosigner_;
  const Clock* const clock_;
  const std::unique_ptr<WitnessStore> store_;
  std::map<std::string, KnownLog, std::less<>> logs_;  // fixed after ctor
  mutable absl::Mutex mu_;
  WitnessedCheckpoints latest_ ABSL_GUARDED_BY(mu_);  // as saved in store_
};

}  // namespace dx::witness

#endif  // DX_WITNESS_WITNESS_H_
