// The records of several nodes' audit logs as one list ordered by time, and
// the cursor that resumes it. Pure: it reads pages through a function it is
// given (gRPC, a test's vectors, the console's bridge), and prints nothing.
//
// Order: record time, then node id, then sequence number, so that records
// of the same microsecond come out the same way on every page.
//
// The cursor (v1::ClusterQueryCursor, printed web-safe base64) holds, per
// node, the page token of the page being read and how many of its records
// were already shown, or that the node is done. It is stable: a record is
// never shown twice nor skipped across pages, and a node that could not be
// read keeps its place (or starts from the beginning) instead of being
// passed over.
//
// Not thread-safe; Start() reads the first page of every node at once, so
// `read` must be safe to call for different nodes from different threads.
#ifndef DX_CLI_CLUSTER_MERGE_H_
#define DX_CLI_CLUSTER_MERGE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dx/v1/audit.pb.h"

namespace dx::cli {

// The merge's order: true when `a` comes before `b`.
bool RecordBefore(const v1::StoredRecord& a, const v1::StoredRecord& b);

// The cursor as printed, and read back. A text that is not one this code
// printed is INVALID_ARGUMENT saying to repeat the query without it.
std::string EncodeCursor(const v1::ClusterQueryCursor& cursor);
absl::StatusOr<v1::ClusterQueryCursor> DecodeCursor(absl::string_view text);

class ClusterMerge {
 public:
  struct Page {
    std::vector<v1::StoredRecord> records;
    // Empty when nothing more matches.
    std::string next_token;
  };
  // One page of `node`'s answer, from `page_token` (empty: the first).
  using ReadPage = std::function<absl::StatusOr<Page>(
      const std::string& node, const std::string& page_token)>;

  struct Miss {
    std::string node;
    absl::Status problem;
  };

  // `readable`: the nodes to read (by id). `unreadable`: the nodes that
  // could not be asked at all (by id, or address when they could not say
  // who they are); they keep their place in the cursor. `resume`: the
  // cursor given (empty: from the beginning).
  ClusterMerge(std::vector<std::string> readable,
               std::vector<std::string> unreadable,
               const v1::ClusterQueryCursor& resume, ReadPage read);

  // Reads the first page of every node not yet done, all at once. A node
  // whose page cannot be read is a miss (see missed()). Once; the first
  // Next() calls it if it was not.
  void Start();

  // The next record by time, reading further pages as needed; nullopt when
  // every node is done or failed.
  std::optional<v1::StoredRecord> Next();

  // Where the next page starts, node by node. Call after the last Next().
  v1::ClusterQueryCursor Cursor() const;
  // Whether the cursor has anything left to read (a node not done).
  bool More() const;

  // The nodes that failed while reading, in the order they failed.
  const std::vector<Miss>& missed() const { return missed_; }
  // How many nodes were read (whose first page came back).
  size_t streams() const { return streams_.size(); }

 private:
  struct Stream {
    std::string node;
    std::string page_token;  // of the page in `buffer`
    uint32_t skip = 0;       // from the cursor: of the first page only
    uint32_t consumed = 0;   // of that page, already shown
    std::deque<v1::StoredRecord> buffer;
    std::string next_token;
    bool done = false;
    bool failed = false;  // could not be read: resume here next time
  };

  absl::Status Fetch(Stream& s, uint32_t skip);

  ReadPage read_;
  bool started_ = false;
  v1::ClusterQueryCursor resume_;
  std::vector<Stream> streams_;
  std::vector<std::string> unreadable_;
  std::vector<Miss> missed_;
};

}  // namespace dx::cli

#endif  // DX_CLI_CLUSTER_MERGE_H_
