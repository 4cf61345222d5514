// ServingLog: the node's own serving state over time, for the availability
// of statistics reports (audit/statistics.h). A housekeeping duty notes,
// every few seconds, whether the node is ready to serve; each minute keeps
// one entry in the state database's meta column family:
//   "serving/" be64(minute since the epoch, UTC) ->
//       be64(process start, µs) || ready (1 byte)
// A minute is ready only when every note of it was. Minutes without an
// entry are downtime (the node was stopped, hung or could not write);
// process starts show restarts. Entries are small (17 bytes, 1,440 a day)
// and kept as long as the log (prunes leave them).
//
// Note() is called from one thread; Read*() from any. The StateDb must
// outlive it.
#ifndef DX_AUDIT_SERVING_LOG_H_
#define DX_AUDIT_SERVING_LOG_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "audit/state_db.h"
#include "audit/statistics.h"

namespace dx::audit {

class ServingLog {
 public:
  ServingLog(StateDb* db, absl::Time process_start)
      : db_(db), process_start_micros_(absl::ToUnixMicros(process_start)) {}

  // Notes the state at `now`. The write is not synced: a crash loses at
  // most the last notes, which then read as downtime (fail safe).
  absl::Status Note(absl::Time now, bool ready);

  // Heartbeats of the minutes in [from, to), oldest first.
  static absl::StatusOr<std::vector<Heartbeat>> Read(StateDb* db,
                                                     int64_t from_micros,
                                                     int64_t to_micros);
  // The minute of the first heartbeat ever; -1 if none.
  static absl::StatusOr<int64_t> FirstMinute(StateDb* db);

 private:
  StateDb* const db_;
  const int64_t process_start_micros_;
  int64_t minute_ = -1;  // the minute of the notes so far
  bool ready_ = false;   // every note of minute_ was ready
};

}  // namespace dx::audit

#endif  // DX_AUDIT_SERVING_LOG_H_
