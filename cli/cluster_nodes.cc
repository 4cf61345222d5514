#include "cli/cluster_nodes.h"

#include <grpcpp/grpcpp.h>

#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/cluster_audit.h"
#include "cli/output.h"
#include "cli/remote.h"
#include "common/status_macros.h"
#include "dx/v1/cluster.grpc.pb.h"

namespace dx::cli {
namespace {

absl::StatusOr<v1::NodeStatus> StatusOf(const RemoteNode& node) {
  v1::NodeStatus out;
  auto stub = v1::Node::NewStub(node.channel());
  DX_RETURN_IF_ERROR(RemoteNode::Call(*stub, &v1::Node::Stub::Status,
                                      v1::NodeStatusRequest(), &out,
                                      absl::Seconds(10)));
  return out;
}

}  // namespace

bool IsClusterAudit(const Flags& f) {
  return f.Has("cluster") || f.Get("gateway").find(',') != std::string::npos;
}

absl::StatusOr<std::vector<ClusterNode>> ClusterNodes(const Flags& f) {
  std::vector<std::string> given =
      absl::StrSplit(f.Get("gateway"), ',', absl::SkipWhitespace());
  if (given.empty()) {
    return absl::InvalidArgumentError(
        "say which nodes: --gateway a:1,b:2,c:3, or --gateway a:1 --cluster");
  }
  std::vector<ClusterNode> nodes;
  if (f.Has("cluster")) {
    absl::Status last;
    for (const std::string& address : given) {
      auto remote = RemoteNode::OpenTo(f, address);
      if (!remote.ok()) return remote.status();
      auto status = StatusOf(*remote);
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
        nodes.push_back(ClusterNode{id, addr, nullptr, absl::OkStatus()});
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
      nodes.push_back(ClusterNode{"", address, nullptr, absl::OkStatus()});
    }
  }
  std::vector<std::thread> askers;
  for (ClusterNode& n : nodes) {
    askers.emplace_back([&f, &n] {
      // One channel (one TLS handshake) per node, for its status and its log.
      auto remote = RemoteNode::OpenTo(f, n.address);
      if (!remote.ok()) {
        n.problem = remote.status();
        return;
      }
      if (n.id.empty()) {
        auto status = StatusOf(*remote);
        if (!status.ok()) {
          n.problem = status.status();
          return;
        }
        n.id = status->node_id();
      }
      n.source = RemoteAuditSource(*std::move(remote));
    });
  }
  for (auto& t : askers) t.join();
  return nodes;
}

std::string NodeName(const ClusterNode& n) {
  return n.id.empty() ? n.address : absl::StrCat(n.id, " (", n.address, ")");
}

absl::StatusOr<ClusterNode*> OneNode(std::vector<ClusterNode>& nodes,
                                     const Flags& f) {
  if (!f.Has("node")) {
    return absl::InvalidArgumentError(
        "sequence numbers are per node: say whose record with --node ID");
  }
  ClusterNode* n = nullptr;
  for (ClusterNode& m : nodes) {
    if (m.id == f.Get("node")) n = &m;
  }
  if (n == nullptr) {
    std::string ids;
    for (const ClusterNode& m : nodes)
      absl::StrAppend(&ids, ids.empty() ? "" : ", ", NodeName(m));
    return absl::NotFoundError(
        absl::StrCat("no node ", f.Get("node"), " among ", ids));
  }
  if (!n->problem.ok()) {
    return absl::UnavailableError(
        absl::StrCat("node ", NodeName(*n), ": ", n->problem.message()));
  }
  return n;
}

int ReportMissed(const std::vector<const ClusterNode*>& missed,
                 const Flags& f) {
  for (const ClusterNode* n : missed) {
    std::cerr << "dxctl audit: node " << NodeName(*n) << " NOT searched: "
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

}  // namespace dx::cli
