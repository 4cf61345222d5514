#include "cli/cluster_merge.h"

#include <algorithm>
#include <thread>

#include "absl/strings/escaping.h"
#include "common/status_macros.h"

namespace dx::cli {

bool RecordBefore(const v1::StoredRecord& a, const v1::StoredRecord& b) {
  const auto& x = a.record();
  const auto& y = b.record();
  if (x.time_unix_micros() != y.time_unix_micros()) {
    return x.time_unix_micros() < y.time_unix_micros();
  }
  if (x.node_id() != y.node_id()) return x.node_id() < y.node_id();
  return a.sequence_number() < b.sequence_number();
}

std::string EncodeCursor(const v1::ClusterQueryCursor& cursor) {
  std::string token;
  absl::WebSafeBase64Escape(cursor.SerializeAsString(), &token);
  return token;
}

absl::StatusOr<v1::ClusterQueryCursor> DecodeCursor(absl::string_view text) {
  std::string raw;
  v1::ClusterQueryCursor cursor;
  if (!absl::WebSafeBase64Unescape(text, &raw) ||
      !cursor.ParseFromString(raw)) {
    return absl::InvalidArgumentError(
        "--cursor is not one this command printed; repeat the query without "
        "it");
  }
  return cursor;
}

ClusterMerge::ClusterMerge(std::vector<std::string> readable,
                           std::vector<std::string> unreadable,
                           const v1::ClusterQueryCursor& resume, ReadPage read)
    : read_(std::move(read)),
      resume_(resume),
      unreadable_(std::move(unreadable)) {
  for (std::string& node : readable) {
    Stream s;
    s.node = std::move(node);
    for (const auto& c : resume_.nodes()) {
      if (c.node_id() != s.node) continue;
      s.page_token = c.page_token();
      s.skip = c.skip();
      s.done = c.done();
    }
    streams_.push_back(std::move(s));
  }
}

absl::Status ClusterMerge::Fetch(Stream& s, uint32_t skip) {
  DX_ASSIGN_OR_RETURN(Page page, read_(s.node, s.page_token));
  s.buffer.assign(std::make_move_iterator(page.records.begin()),
                  std::make_move_iterator(page.records.end()));
  s.next_token = std::move(page.next_token);
  s.consumed = std::min<uint32_t>(skip, static_cast<uint32_t>(s.buffer.size()));
  s.buffer.erase(s.buffer.begin(), s.buffer.begin() + s.consumed);
  return absl::OkStatus();
}

void ClusterMerge::Start() {
  if (started_) return;
  started_ = true;
  // Each node at once: a slow one costs its own time, not the sum of all.
  std::vector<absl::Status> fetched(streams_.size());
  {
    std::vector<std::thread> fetchers;
    for (size_t i = 0; i < streams_.size(); ++i) {
      if (streams_[i].done) continue;
      fetchers.emplace_back([this, &fetched, i] {
        fetched[i] = Fetch(streams_[i], streams_[i].skip);
      });
    }
    for (auto& t : fetchers) t.join();
  }
  // A node whose first page failed is left as the cursor had it.
  std::vector<Stream> kept;
  for (size_t i = 0; i < streams_.size(); ++i) {
    if (fetched[i].ok()) {
      kept.push_back(std::move(streams_[i]));
    } else {
      missed_.push_back({streams_[i].node, fetched[i]});
    }
  }
  streams_ = std::move(kept);
}

std::optional<v1::StoredRecord> ClusterMerge::Next() {
  Start();
  Stream* next = nullptr;
  for (Stream& s : streams_) {
    while (!s.done && s.buffer.empty()) {
      if (s.next_token.empty()) {
        s.done = true;
        break;
      }
      s.page_token = s.next_token;
      if (absl::Status st = Fetch(s, 0); !st.ok()) {
        missed_.push_back({s.node, st});
        s.done = true;
        s.failed = true;
      }
    }
    if (s.buffer.empty()) continue;
    if (next == nullptr ||
        RecordBefore(s.buffer.front(), next->buffer.front())) {
      next = &s;
    }
  }
  if (next == nullptr) return std::nullopt;
  v1::StoredRecord out = std::move(next->buffer.front());
  next->buffer.pop_front();
  ++next->consumed;
  return out;
}

v1::ClusterQueryCursor ClusterMerge::Cursor() const {
  v1::ClusterQueryCursor out;
  for (const Stream& s : streams_) {
    auto* c = out.add_nodes();
    c->set_node_id(s.node);
    if (s.failed) {
      // Not read past the page that failed: the next page starts there.
      c->set_page_token(s.page_token);
    } else if (!s.buffer.empty()) {
      c->set_page_token(s.page_token);
      c->set_skip(s.consumed);
    } else if (!s.done && !s.next_token.empty()) {
      c->set_page_token(s.next_token);
    } else {
      c->set_done(true);
    }
  }
  // A node that could not be read at all keeps its place from the cursor
  // given (or starts from the beginning): never skipped by a later page.
  std::vector<std::string> left = unreadable_;
  for (const Miss& m : missed_) left.push_back(m.node);
  for (const std::string& node : left) {
    bool listed = false;
    for (const auto& c : out.nodes()) listed = listed || c.node_id() == node;
    if (listed) continue;
    auto* c = out.add_nodes();
    c->set_node_id(node);
    for (const auto& was : resume_.nodes()) {
      if (was.node_id() == node) *c = was;
    }
  }
  return out;
}

bool ClusterMerge::More() const {
  const v1::ClusterQueryCursor cursor = Cursor();
  for (const auto& c : cursor.nodes()) {
    if (!c.done()) return true;
  }
  return false;
}

}  // namespace dx::cli
