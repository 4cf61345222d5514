#include "cli/cluster_audit.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <deque>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "cli/audit_output.h"
#include "cli/channel.h"
#include "common/bytes.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "dx/v1/cluster.grpc.pb.h"

namespace dx::cli {
namespace {

int Fail(const absl::Status& s) { return cli::Fail("audit", s); }

struct Node {
  std::string id;  // empty when it could not be asked who it is
  std::string address;
  std::unique_ptr<AuditSource> source;
  absl::Status problem;  // why it could not be asked
};

absl::StatusOr<v1::NodeStatus> StatusOf(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::NodeStatus out;
  grpc::Status s =
      v1::Node::NewStub(channel)->Status(&ctx, v1::NodeStatusRequest(), &out);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        s.error_message());
  }
  return out;
}

// The nodes to ask, each with its source, or its problem.
absl::StatusOr<std::vector<Node>> Nodes(const Flags& f) {
  std::vector<std::string> given =
      absl::StrSplit(f.Get("gateway"), ',', absl::SkipWhitespace());
  if (given.empty()) {
    return absl::InvalidArgumentError(
        "say which nodes: --gateway a:1,b:2,c:3, or --gateway a:1 --cluster");
  }
  std::vector<Node> nodes;
  if (f.Has("cluster")) {
    absl::Status last;
    for (const std::string& address : given) {
      auto channel = OpenGatewayChannelTo(f, address, "auditor1");
      if (!channel.ok()) return channel.status();
      auto status = StatusOf(*channel);
      if (!status.ok()) {
        last = status.status();
        continue;
      }
      // Every node that ever kept a log, and the live ones not yet known.
      std::map<std::string, std::string> known;
      for (const auto& n : status->known_nodes())
        known[n.node_id()] = n.address();
      for (const auto& n : status->members()) known[n.node_id()] = n.address();
      if (known.empty()) known[status->node_id()] = address;
      for (const auto& [id, addr] : known) {
        nodes.push_back(Node{id, addr, nullptr, absl::OkStatus()});
      }
      break;
    }
    if (nodes.empty()) {
      return absl::UnavailableError(
          absl::StrCat("no node of ", f.Get("gateway"),
                       " answered to list the cluster: ", last.message()));
    }
  } else {
    for (const std::string& address : given) {
      nodes.push_back(Node{"", address, nullptr, absl::OkStatus()});
    }
  }
  // Each node at once: a slow or dead one costs its own timeout, not the
  // sum of all.
  std::vector<std::thread> askers;
  for (Node& n : nodes) {
    askers.emplace_back([&f, &n] {
      // One channel (one TLS handshake) per node, for its status and its log.
      auto channel = OpenGatewayChannelTo(f, n.address, "auditor1");
      if (!channel.ok()) {
        n.problem = channel.status();
        return;
      }
      if (n.id.empty()) {
        auto status = StatusOf(*channel);
        if (!status.ok()) {
          n.problem = status.status();
          return;
        }
        n.id = status->node_id();
      }
      n.source = RemoteAuditSource(*std::move(channel));
    });
  }
  for (auto& t : askers) t.join();
  return nodes;
}

std::string Name(const Node& n) {
  return n.id.empty() ? n.address : absl::StrCat(n.id, " (", n.address, ")");
}

// Names every node left out; the exit code the command then ends with.
int Partial(const std::vector<const Node*>& missed, const Flags& f) {
  for (const Node* n : missed) {
    std::cerr << "dxctl audit: node " << Name(*n) << " NOT searched: "
              << absl::StatusCodeToString(n->problem.code()) << ": "
              << n->problem.message() << "\n";
  }
  if (missed.empty()) return 0;
  if (f.Has("allow-partial")) {
    std::cerr << "dxctl audit: the answer leaves out " << missed.size()
              << " node(s) (--allow-partial)\n";
    return 0;
  }
  std::cerr << "dxctl audit: the answer is incomplete; bring the node(s) "
               "back, or pass --allow-partial to accept it\n";
  return kExitFailed;
}

bool Before(const v1::StoredRecord& a, const v1::StoredRecord& b) {
  const auto& x = a.record();
  const auto& y = b.record();
  if (x.time_unix_micros() != y.time_unix_micros()) {
    return x.time_unix_micros() < y.time_unix_micros();
  }
  if (x.node_id() != y.node_id()) return x.node_id() < y.node_id();
  return a.sequence_number() < b.sequence_number();
}

// One node's place in a merged search.
struct Stream {
  Node* node = nullptr;
  std::string page_token;  // of the page in `buffer`
  uint32_t consumed = 0;   // of that page, already shown
  std::deque<v1::StoredRecord> buffer;
  std::string next_token;
  bool fetched = false;
  bool done = false;
  bool failed = false;  // could not be read: resume here next time
};

absl::Status Fetch(Stream& s, v1::AuditQuery q, uint32_t skip) {
  q.set_page_token(s.page_token);
  s.buffer.clear();
  absl::Status st = s.node->source->QueryPage(
      q,
      [&](const v1::StoredRecord& r) {
        s.buffer.push_back(r);
        return true;
      },
      &s.next_token);
  if (!st.ok()) return st;
  s.fetched = true;
  s.consumed = std::min<uint32_t>(skip, s.buffer.size());
  s.buffer.erase(s.buffer.begin(), s.buffer.begin() + s.consumed);
  return absl::OkStatus();
}

Node* Find(std::vector<Node>& nodes, const std::string& id) {
  for (Node& n : nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

}  // namespace

bool IsClusterAudit(const Flags& f) {
  return f.Has("cluster") || f.Get("gateway").find(',') != std::string::npos;
}

int RunClusterQuery(const Flags& f) {
  auto limit = f.GetUint("limit", 100);
  auto page_size = f.GetUint("page-size", 100);
  if (!limit.ok()) return Fail(limit.status());
  if (!page_size.ok()) return Fail(page_size.status());
  auto q = QueryFromFlags(f);
  if (!q.ok()) return Fail(q.status());
  q->set_page_size(static_cast<uint32_t>(std::min(*page_size, *limit)));
  auto nodes = Nodes(f);
  if (!nodes.ok()) return Fail(nodes.status());

  v1::ClusterQueryCursor cursor;
  if (f.Has("cursor")) {
    std::string raw;
    if (!absl::WebSafeBase64Unescape(f.Get("cursor"), &raw) ||
        !cursor.ParseFromString(raw)) {
      return Fail(absl::InvalidArgumentError(
          "--cursor is not one this command printed; repeat the query "
          "without it"));
    }
  }
  std::vector<Stream> streams;
  std::vector<uint32_t> skips;
  std::vector<const Node*> missed;
  for (Node& n : *nodes) {
    if (!n.problem.ok()) {
      missed.push_back(&n);
      continue;
    }
    Stream s;
    s.node = &n;
    uint32_t skip = 0;
    for (const auto& c : cursor.nodes()) {
      if (c.node_id() != n.id) continue;
      s.page_token = c.page_token();
      skip = c.skip();
      s.done = c.done();
    }
    streams.push_back(std::move(s));
    skips.push_back(skip);
  }
  // The first page of every node at once.
  std::vector<absl::Status> fetched(streams.size());
  {
    std::vector<std::thread> fetchers;
    for (size_t i = 0; i < streams.size(); ++i) {
      if (streams[i].done) continue;
      fetchers.emplace_back(
          [&, i] { fetched[i] = Fetch(streams[i], *q, skips[i]); });
    }
    for (auto& t : fetchers) t.join();
  }
  for (size_t i = streams.size(); i-- > 0;) {
    if (fetched[i].ok()) continue;
    streams[i].node->problem = fetched[i];
    missed.push_back(streams[i].node);
    streams.erase(streams.begin() + static_cast<std::ptrdiff_t>(i));
  }

  RecordPrinter printer(f.Get("format", "table"), /*show_node=*/true);
  uint64_t printed = 0;
  while (printed < *limit) {
    Stream* next = nullptr;
    for (Stream& s : streams) {
      while (!s.done && s.buffer.empty()) {
        if (s.next_token.empty()) {
          s.done = true;
          break;
        }
        s.page_token = s.next_token;
        if (absl::Status st = Fetch(s, *q, 0); !st.ok()) {
          s.node->problem = st;
          missed.push_back(s.node);
          s.done = true;
          s.failed = true;
        }
      }
      if (s.buffer.empty()) continue;
      if (next == nullptr || Before(s.buffer.front(), next->buffer.front())) {
        next = &s;
      }
    }
    if (next == nullptr) break;
    printer.Print(next->buffer.front());
    next->buffer.pop_front();
    ++next->consumed;
    ++printed;
  }
  // Where the next page starts, node by node.
  v1::ClusterQueryCursor out;
  bool more = false;
  for (const Stream& s : streams) {
    auto* c = out.add_nodes();
    c->set_node_id(s.node->id);
    if (s.failed) {
      // Not read past the page that failed: the next page starts there.
      c->set_page_token(s.page_token);
      more = true;
    } else if (!s.buffer.empty()) {
      c->set_page_token(s.page_token);
      c->set_skip(s.consumed);
      more = true;
    } else if (!s.done && !s.next_token.empty()) {
      c->set_page_token(s.next_token);
      more = true;
    } else {
      c->set_done(true);
    }
  }
  // A node that could not be asked at all keeps its place from --cursor (or
  // starts from the beginning): it is never skipped by a later page.
  for (const Node* n : missed) {
    // Named by its address when it could not even say who it is.
    const std::string key = n->id.empty() ? n->address : n->id;
    bool listed = false;
    for (const auto& c : out.nodes()) listed = listed || c.node_id() == key;
    if (listed) continue;
    auto* c = out.add_nodes();
    c->set_node_id(key);
    for (const auto& was : cursor.nodes()) {
      if (was.node_id() == key) *c = was;
    }
    more = more || !c->done();
  }
  if (more) {
    std::string token;
    absl::WebSafeBase64Escape(out.SerializeAsString(), &token);
    std::cerr << "more: repeat with --cursor " << token << "\n";
  }
  if (f.Get("format", "table") == "table") {
    std::cerr << printed << " record(s) from " << streams.size() << " of "
              << nodes->size() << " node(s)\n";
  }
  return Partial(missed, f);
}

int RunClusterSubjectReport(const Flags& f) {
  auto request = SubjectReportFromFlags(f);
  if (!request.ok()) return Fail(request.status());
  const v1::SubjectReportRequest& req = *request;
  auto nodes = Nodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  std::vector<v1::StoredRecord> all;
  std::vector<const Node*> missed;
  for (Node& n : *nodes) {
    if (n.problem.ok()) {
      std::vector<v1::StoredRecord> mine;
      n.problem = n.source->SubjectReport(req, [&](const v1::StoredRecord& r) {
        mine.push_back(r);
        return true;
      });
      if (n.problem.ok()) all.insert(all.end(), mine.begin(), mine.end());
    }
    if (!n.problem.ok()) missed.push_back(&n);
  }
  std::sort(all.begin(), all.end(), Before);
  PrintSubjectReport(all, f.Get("format", "table"), /*show_node=*/true,
                     absl::StrCat(", on ", nodes->size() - missed.size(),
                                  " of ", nodes->size(), " node(s)"));
  return Partial(missed, f);
}

namespace {

// The node --node names, ready to ask.
absl::StatusOr<Node*> OneNode(std::vector<Node>& nodes, const Flags& f) {
  if (!f.Has("node")) {
    return absl::InvalidArgumentError(
        "sequence numbers are per node: say whose record with --node ID");
  }
  Node* n = Find(nodes, f.Get("node"));
  if (n == nullptr) {
    std::string ids;
    for (const Node& m : nodes)
      absl::StrAppend(&ids, ids.empty() ? "" : ", ", Name(m));
    return absl::NotFoundError(
        absl::StrCat("no node ", f.Get("node"), " among ", ids));
  }
  if (!n->problem.ok()) {
    return absl::UnavailableError(
        absl::StrCat("node ", Name(*n), ": ", n->problem.message()));
  }
  return n;
}

// Checks a checkpoint proof: the leaf in the cluster tree, and the cluster
// tree head's signature (prefixed bytes) by a key whose chain --ca checks.
absl::Status CheckCheckpoint(const v1::CheckpointProof& p, const Flags& f,
                             std::string* signer_note) {
  const v1::SignedTreeHead& head = p.cluster_tree_head();
  if (!audit::VerifyInclusion(
          p.leaf_index(), head.tree_size(), audit::HashLeaf(p.leaf_bytes()),
          {p.path().begin(), p.path().end()}, head.root_hash())) {
    return absl::DataLossError(
        absl::StrCat("checkpoint leaf ", p.leaf_index(),
                     " does not lead to the cluster tree head's root"));
  }
  bool chain_checked = false;
  DX_ASSIGN_OR_RETURN(auto key, LogKey(head, f, &chain_checked));
  if (!audit::VerifyClusterTreeHead(head, key.get())) {
    return absl::DataLossError("the cluster tree head's signature is BAD");
  }
  *signer_note = absl::StrCat(
      "signed by ", head.node_id(), " at ",
      FormatTime(static_cast<int64_t>(head.timestamp_ms()) * 1000),
      chain_checked ? "" : " (certificate NOT checked: give --ca)");
  return absl::OkStatus();
}

void PrintAlarms(const v1::CheckpointProof& p) {
  for (const auto& a : p.alarms()) {
    std::cout << "ALARM  node " << a.node_id() << ": " << a.reason()
              << " (raised by " << a.raised_by() << " at "
              << FormatTime(a.raised_unix_micros()) << ")\n";
  }
}

}  // namespace

int RunClusterGet(const Flags& f) {
  auto nodes = Nodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  auto n = OneNode(*nodes, f);
  if (!n.ok()) return Fail(n.status());
  return RunNodeGet(*(*n)->source, f);
}

int RunClusterProof(const Flags& f) {
  auto nodes = Nodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  auto n = OneNode(*nodes, f);
  if (!n.ok()) return Fail(n.status());
  AuditSource& src = *(*n)->source;
  auto seq = f.PositionalUint(0, "the record's sequence number");
  if (!seq.ok()) return Fail(seq.status());
  // The first checkpoint of the node's tree that holds the record, and the
  // record's proof in exactly that tree.
  auto checkpoint = src.Checkpoint((*n)->id, *seq + 1);
  if (!checkpoint.ok()) return Fail(checkpoint.status());
  const v1::SignedTreeHead& node_head = checkpoint->leaf().node_tree_head();
  auto inclusion = src.Inclusion(*seq, node_head.tree_size());
  if (!inclusion.ok()) return Fail(inclusion.status());
  if (f.Has("json")) {
    std::cout << Json(*inclusion) << "\n" << Json(*checkpoint) << "\n";
  }
  bool chain_checked = false;
  auto node_key = LogKey(inclusion->tree_head(), f, &chain_checked);
  if (!node_key.ok()) return Fail(node_key.status());
  std::vector<std::string> problems;
  if (!audit::VerifyInclusion(
          inclusion->leaf_index(), inclusion->tree_size(),
          inclusion->leaf_hash(),
          {inclusion->path().begin(), inclusion->path().end()},
          node_head.root_hash())) {
    problems.push_back("the record does not lead to the checkpointed root");
  }
  if (!audit::VerifyTreeHead(node_head, node_key->get())) {
    problems.push_back("the checkpointed node tree head's signature is BAD");
  }
  if (certs::Sha256(inclusion->tree_head().signer_certificate()) !=
      checkpoint->leaf().node_signer_cert_sha256()) {
    problems.push_back(
        "the node's certificate is not the one the checkpoint pins");
  }
  std::string signer_note;
  if (absl::Status s = CheckCheckpoint(*checkpoint, f, &signer_note); !s.ok()) {
    problems.push_back(std::string(s.message()));
  }
  if (!f.Has("json")) {
    std::cout << (problems.empty() ? "PROVEN  " : "FAILED  ") << "record "
              << (*n)->id << "#" << *seq << " (leaf "
              << HexEncode(inclusion->leaf_hash()).substr(0, 16)
              << "...) is in " << (*n)->id << "'s tree of "
              << node_head.tree_size() << " records\n"
              << "  that tree head is leaf " << checkpoint->leaf_index()
              << " of the cluster checkpoint log of "
              << checkpoint->cluster_tree_head().tree_size() << ", "
              << signer_note << "\n";
    for (const auto& p : problems) std::cout << "  problem: " << p << "\n";
    PrintAlarms(*checkpoint);
  }
  return problems.empty() && checkpoint->alarms().empty() ? 0
                                                          : kExitNotVerified;
}

int RunClusterVerify(const Flags& f) {
  auto nodes = Nodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  std::vector<const Node*> missed;
  bool all_ok = true;
  v1::CheckpointProof alarms;
  for (Node& n : *nodes) {
    if (!n.problem.ok()) {
      missed.push_back(&n);
      continue;
    }
    std::cout << "== " << Name(n) << "\n";
    const int rc = RunNodeVerify(*n.source, f);
    if (rc != 0) all_ok = false;
    // Its newest checkpoint must be a prefix of the log just verified.
    auto checkpoint = n.source->Checkpoint(n.id, 0);
    if (absl::IsNotFound(checkpoint.status())) {
      std::cout << "NOT CHECKPOINTED  " << n.id
                << " has no tree head in the cluster log yet\n";
      continue;
    }
    if (!checkpoint.ok()) {
      n.problem = checkpoint.status();
      missed.push_back(&n);
      continue;
    }
    for (const auto& a : checkpoint->alarms()) *alarms.add_alarms() = a;
    const v1::SignedTreeHead& cp = checkpoint->leaf().node_tree_head();
    auto consistency = n.source->Consistency(cp.tree_size(), 0);
    std::string signer_note;
    absl::Status s = CheckCheckpoint(*checkpoint, f, &signer_note);
    if (s.ok() && !consistency.ok()) s = consistency.status();
    if (s.ok() &&
        !audit::VerifyConsistency(
            cp.tree_size(), consistency->second_size(), cp.root_hash(),
            consistency->second_tree_head().root_hash(),
            {consistency->path().begin(), consistency->path().end()})) {
      s = absl::DataLossError(
          absl::StrCat("its log of ", consistency->second_size(),
                       " records does not extend the tree of ", cp.tree_size(),
                       " records the cluster checkpointed"));
    }
    if (s.ok()) {
      std::cout << "CHECKPOINTED  " << n.id << "'s tree of " << cp.tree_size()
                << " records (cluster leaf " << checkpoint->leaf_index()
                << " of " << checkpoint->cluster_tree_head().tree_size() << ", "
                << signer_note << ") is a prefix of its log\n";
    } else {
      std::cout << "FAILED  " << n.id << ": " << s.message() << "\n";
      all_ok = false;
    }
  }
  // One alarm list for the cluster (every node sees the same).
  std::map<std::string, v1::CheckpointAlarm> unique;
  for (const auto& a : alarms.alarms()) unique[a.node_id()] = a;
  v1::CheckpointProof shown;
  for (const auto& [id, a] : unique) *shown.add_alarms() = a;
  PrintAlarms(shown);
  const int partial = Partial(missed, f);
  if (!all_ok || !unique.empty()) return kExitNotVerified;
  return partial;
}

namespace {

// The first record of `node` at or after `micros` (0: the start), or
// `limit` when there is none before it.
absl::StatusOr<uint64_t> FirstAtOrAfter(AuditSource& src, int64_t micros,
                                        uint64_t limit) {
  if (micros == 0) return 0;
  v1::AuditQuery q;
  q.set_from_unix_micros(micros);
  q.set_page_size(1);
  uint64_t first = limit;
  std::string token;
  DX_RETURN_IF_ERROR(src.QueryPage(
      q,
      [&](const v1::StoredRecord& r) {
        first = std::min(first, r.sequence_number());
        return false;
      },
      &token));
  return first;
}

}  // namespace

int RunClusterExport(const Flags& f) {
  if (!f.Has("out")) return Fail(absl::InvalidArgumentError("give --out FILE"));
  auto since = ParseWhen(f.Get("since"), "since");
  auto until = ParseWhen(f.Get("until"), "until");
  if (!since.ok()) return Fail(since.status());
  if (!until.ok()) return Fail(until.status());
  auto nodes = Nodes(f);
  if (!nodes.ok()) return Fail(nodes.status());
  std::vector<const Node*> missed;
  std::vector<Node*> asked;
  for (Node& n : *nodes) {
    if (n.problem.ok()) {
      asked.push_back(&n);
    } else {
      missed.push_back(&n);
    }
  }
  if (asked.empty()) {
    (void)Partial(missed, f);
    return kExitFailed;
  }
  // Every node's newest checkpoint, all against one cluster tree head (the
  // checkpointer may append between two reads: read again).
  std::vector<v1::CheckpointProof> checkpoints;
  for (int attempt = 0; attempt < 5; ++attempt) {
    checkpoints.clear();
    for (Node* n : asked) {
      auto cp = n->source->Checkpoint(n->id, 0);
      if (!cp.ok()) {
        return Fail(absl::Status(
            cp.status().code(),
            absl::StrCat("node ", Name(*n), ": ", cp.status().message())));
      }
      checkpoints.push_back(*std::move(cp));
    }
    bool same = true;
    for (const auto& cp : checkpoints) {
      same = same && cp.cluster_tree_head().SerializeAsString() ==
                         checkpoints[0].cluster_tree_head().SerializeAsString();
    }
    if (same) break;
    if (attempt == 4) {
      return Fail(absl::UnavailableError(
          "the cluster checkpoint log kept moving; try again"));
    }
  }
  v1::ClusterAuditBundle bundle;
  bundle.set_created_unix_micros(absl::ToUnixMicros(absl::Now()));
  bundle.set_from_unix_micros(*since);
  bundle.set_to_unix_micros(*until);
  uint64_t records = 0;
  for (size_t i = 0; i < asked.size(); ++i) {
    AuditSource& src = *asked[i]->source;
    const uint64_t size = checkpoints[i].leaf().node_tree_head().tree_size();
    auto from = FirstAtOrAfter(src, *since, size);
    auto to = *until == 0 ? absl::StatusOr<uint64_t>(size)
                          : FirstAtOrAfter(src, *until, size);
    if (!from.ok()) return Fail(from.status());
    if (!to.ok()) return Fail(to.status());
    const uint64_t end = std::min(*to, size);
    auto nb = src.Export(std::min(*from, end), end, size);
    if (!nb.ok()) {
      // E.g. a node whose log was reset: it cannot prove the tree the
      // cluster checkpointed (its alarm says why).
      asked[i]->problem = absl::Status(
          nb.status().code(),
          absl::StrCat("cannot export against its checkpointed tree of ", size,
                       " records: ", nb.status().message()));
      missed.push_back(asked[i]);
      continue;
    }
    // A log reset since may even hold a tree head of that size, of other
    // records: only the checkpointed one proves anything.
    const v1::SignedTreeHead& held = checkpoints[i].leaf().node_tree_head();
    if (nb->tree_head().root_hash() != held.root_hash() ||
        nb->tree_head().signature() != held.signature()) {
      asked[i]->problem = absl::DataLossError(absl::StrCat(
          "its tree head of ", size,
          " records is not the one the cluster checkpointed: its log was "
          "reset or rewritten (see its alarm)"));
      missed.push_back(asked[i]);
      continue;
    }
    if (bundle.certificates().empty()) {
      for (int c = 1; c < nb->certificates_size(); ++c) {
        bundle.add_certificates(nb->certificates(c));
      }
    }
    records += nb->entries_size();
    std::cout << asked[i]->id << ": " << nb->entries_size()
              << " records, up to its checkpointed tree of " << size
              << " (cluster leaf " << checkpoints[i].leaf_index() << ")\n";
    *bundle.add_node_bundles() = *std::move(nb);
    *bundle.add_checkpoints() = std::move(checkpoints[i]);
  }
  if (bundle.node_bundles_size() == 0) {
    (void)Partial(missed, f);
    return kExitFailed;
  }
  absl::Status s =
      WriteFileAtomically(f.Get("out"), bundle.SerializeAsString());
  if (!s.ok()) return Fail(s);
  std::cout << "exported " << records << " records of "
            << bundle.node_bundles_size() << " node(s) to " << f.Get("out")
            << ", proven to the cluster tree head of "
            << bundle.checkpoints(0).cluster_tree_head().tree_size()
            << " checkpoints; records after a node's newest checkpoint come "
               "in the next export\n";
  return Partial(missed, f);
}

}  // namespace dx::cli
