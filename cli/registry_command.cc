// dxctl registry: the registry of a cluster, changed while it serves
// (operators), and read (operators, policy administrators, auditors); and
// dxctl status: what each node says of itself.
#include <grpcpp/grpcpp.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/command.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/remote.h"
#include "common/files.h"
#include "dx/v1/cluster.grpc.pb.h"
#include "dx/v1/registry.grpc.pb.h"

namespace dx::cli {
namespace {

int Fail(const absl::Status& s) { return cli::Fail("registry", s); }
int FailRpc(const absl::Status& s) { return cli::FailRpc("registry", s); }

using Client = RemoteService<v1::RegistryAdmin>;
using RemoteFn = std::function<int(const Flags&, Client&)>;
std::function<int(const Flags&)> Remote(RemoteFn run) {
  return [run = std::move(run)](const Flags& f) {
    auto remote = RemoteNode::Open(f);
    if (!remote.ok()) return Fail(remote.status());
    Client admin(*std::move(remote));
    return run(f, admin);
  };
}

int PrintApplied(bool dry_run, const v1::ApplyRegistryResponse& out);

int RunApply(const Flags& f, Client& admin) {
  if (!f.Has("f"))
    return Fail(absl::InvalidArgumentError("name the file: -f FILE"));
  auto text = ReadFile(f.Get("f"));
  if (!text.ok()) return Fail(text.status());
  v1::ApplyRegistryRequest req;
  req.set_yaml(*text);
  req.set_source_name(f.Get("f"));
  req.set_comment(f.Get("comment"));
  req.set_dry_run(f.Has("dry-run"));
  v1::ApplyRegistryResponse out;
  absl::Status s = admin.Call(&v1::RegistryAdmin::Stub::Apply, req, &out);
  if (!s.ok()) return FailRpc(s);
  return PrintApplied(req.dry_run(), out);
}

int PrintApplied(bool dry_run, const v1::ApplyRegistryResponse& out) {
  if (!out.pending_id().empty()) {
    std::cout << "held as pending change " << out.pending_id()
              << ": it removes state_secret marks ("
              << absl::StrJoin(out.removed_marks(), ", ")
              << "), so another registry operator must approve it on this "
                 "node:\n  dxctl registry approve "
              << out.pending_id() << "\n";
    for (const auto& c : out.changes()) std::cout << "  " << c << "\n";
    return kExitOk;
  }
  if (out.changes().empty()) {
    std::cout << "no change: registry revision " << out.revision()
              << " already says this\n";
  } else {
    std::cout << (dry_run ? std::string("dry run: would make")
                          : absl::StrCat("registry revision ", out.revision(),
                                         " (in force on this node; every other "
                                         "node follows it by its "
                                         "watch within milliseconds):"))
              << "\n";
    for (const auto& c : out.changes()) std::cout << "  " << c << "\n";
    for (const auto& m : out.removed_marks()) {
      std::cout << "  state_secret mark removed: " << m << "\n";
    }
  }
  return kExitOk;
}

int RunApprove(const Flags& f, Client& admin) {
  if (f.positional().size() != 1) {
    return Fail(absl::InvalidArgumentError(
        "name the pending change: approve ID (dxctl registry get lists them)"));
  }
  v1::ApplyRegistryRequest req;
  req.set_approves(f.positional()[0]);
  v1::ApplyRegistryResponse out;
  absl::Status s = admin.Call(&v1::RegistryAdmin::Stub::Apply, req, &out);
  if (!s.ok()) return FailRpc(s);
  return PrintApplied(false, out);
}

int RunGet(const Flags& f, Client& admin) {
  v1::GetRegistryResponse out;
  absl::Status s =
      admin.Call(&v1::RegistryAdmin::Stub::Get, v1::GetRegistryRequest(), &out);
  if (!s.ok()) return FailRpc(s);
  if (f.Has("json")) {
    std::cout << Json(out, /*pretty=*/true) << "\n";
    return kExitOk;
  }
  // A file has no revisions; etcd numbers them.
  std::cout << (out.revision() == 0
                    ? std::string("registry")
                    : absl::StrCat("registry revision ", out.revision()))
            << " from " << out.source() << ", sha256 " << out.digest() << "\n";
  for (const auto& a : out.registry().agencies()) {
    std::vector<std::string> systems;
    for (const auto& sys : a.systems()) systems.push_back(sys.id());
    std::cout << "  agency " << a.code() << "  " << a.name()
              << (systems.empty() ? "" : "  systems: ")
              << absl::StrJoin(systems, ", ") << "\n";
  }
  for (const auto& d : out.registry().datasets()) {
    std::vector<std::string> secret;
    for (const auto& field : d.fields()) {
      if (field.state_secret()) secret.push_back(field.name());
    }
    std::cout << "  dataset " << d.id() << "  owner " << d.provider_agency()
              << "  " << d.fields_size() << " fields  "
              << (d.peer_platform().empty()
                      ? absl::StrCat("adapter ", d.adapter().address())
                      : absl::StrCat("served by platform ", d.peer_platform()))
              << (d.state_secret() ? "  STATE SECRET" : "")
              << (secret.empty() ? "" : "  state-secret fields: ")
              << absl::StrJoin(secret, ", ") << "\n";
  }
  for (const auto& p : out.pending()) {
    std::cout << "  pending " << p.id() << "  by " << p.proposer() << "  "
              << FormatTime(p.time_unix_micros()) << "  removes "
              << absl::StrJoin(p.removed_marks(), ", ")
              << "  (dxctl registry approve " << p.id() << ")\n";
  }
  return kExitOk;
}

int RunHistory(const Flags& f, Client& admin) {
  auto limit = f.GetUint("limit");
  if (!limit.ok()) return Fail(limit.status());
  v1::RegistryHistoryRequest req;
  req.set_limit(static_cast<uint32_t>(*limit));
  v1::RegistryHistoryResponse out;
  absl::Status s = admin.Call(&v1::RegistryAdmin::Stub::History, req, &out);
  if (!s.ok()) return FailRpc(s);
  for (const auto& r : out.revisions()) {
    std::cout << "r" << r.revision() << "  " << FormatTime(r.time_unix_micros())
              << "  by " << r.author();
    if (!r.approved_by().empty()) {
      std::cout << ", approved by " << r.approved_by();
    }
    if (!r.comment().empty()) std::cout << "  \"" << r.comment() << "\"";
    std::cout << "\n";
  }
  return kExitOk;
}

const CommandTable& RegistryTable() {
  static const auto* table = new CommandTable{
      "registry",
      "usage: dxctl registry SUBCOMMAND [flags]\n\n",
      R"(
connection: --gateway HOST:PORT --pki DIR --person NAME (or DXCTL_PERSON),
            or --ca F --cert F --key F
A single node reads its registry file and refuses apply; a cluster keeps
its registry in etcd, versioned, and every node follows it at once.
)",
      {"gateway", "pki", "person", "ca", "cert", "key"},
      {},
      {
          {"apply",
           "apply -f FILE [--comment TEXT] [--dry-run]",
           "validate a registry (and that the sharing policy still fits it),\n"
           "store it as the next revision, in force on every node",
           {"f", "comment"},
           {"dry-run"},
           {},
           Remote(RunApply)},
          {"approve",
           "approve ID",
           "apply a pending change another operator proposed (one that\n"
           "removes a state_secret mark needs a second person)",
           {},
           {},
           {},
           Remote(RunApprove)},
          {"get",
           "get [--json]",
           "the registry in force on the node",
           {},
           {"json"},
           {},
           Remote(RunGet)},
          {"history",
           "history [--limit N]",
           "revisions, newest first",
           {"limit"},
           {},
           {"limit"},
           Remote(RunHistory)},
      }};
  return *table;
}

// Each node of --gateway (a,b,c), asked on its own.
int RunStatus(const std::vector<std::string>& args) {
  auto f = Flags::Parse(args, {"gateway", "pki", "person", "ca", "cert", "key"},
                        {"json", "help"});
  if (!f.ok() || f->Has("help")) {
    if (!f.ok()) std::cerr << "dxctl status: " << f.status().message() << "\n";
    std::cout << "usage: dxctl status --gateway A[,B,...] --pki DIR "
                 "--person NAME [--json]\n  what each node says of itself: "
                 "serving or why not, revisions, audit log and its last tree\n"
                 "  head, cluster members, and when its certificates and CRLs "
                 "run out\n";
    return f.ok() ? kExitOk : kExitUsage;
  }
  int rc = kExitOk;
  for (absl::string_view address :
       absl::StrSplit(f->Get("gateway"), ',', absl::SkipEmpty())) {
    std::vector<std::string> one = args;
    for (size_t i = 0; i + 1 < one.size(); ++i) {
      if (one[i] == "--gateway") one[i + 1] = std::string(address);
    }
    auto parsed =
        Flags::Parse(one, {"gateway", "pki", "person", "ca", "cert", "key"},
                     {"json", "help"});
    auto remote = RemoteNode::Open(*parsed);
    if (!remote.ok()) return cli::Fail("status", remote.status());
    v1::NodeStatus st;
    absl::Status s = RemoteService<v1::Node>(*std::move(remote))
                         .Call(&v1::Node::Stub::Status, v1::NodeStatusRequest(),
                               &st, absl::Seconds(5));
    if (!s.ok()) {
      std::cout << address << "  UNREACHABLE  " << s.message() << "\n";
      rc = kExitFailed;
      continue;
    }
    if (f->Has("json")) {
      std::cout << Json(st) << "\n";
      continue;
    }
    std::cout << address << "  " << st.node_id() << "  "
              << (st.serving() ? "SERVING" : "NOT_SERVING") << "  policy r"
              << st.policy_revision() << "  registry r"
              << st.registry_revision() << "  state " << st.state()
              << "  audit records " << st.audit_records() << "  members "
              << st.members_size() << "\n";
    if (!st.serving()) std::cout << "    " << st.not_serving_reason() << "\n";
    if (!st.serving()) rc = kExitFailed;
    for (const auto& a : st.audit_alarms()) {
      std::cout << "    ALARM  node " << a.node_id()
                << "'s audit log was not accepted into the cluster log: "
                << a.reason() << "\n";
      rc = kExitFailed;
    }
    const absl::Time now = absl::Now();
    if (st.tree_head_size() > 0) {
      const absl::Duration age =
          now - absl::FromUnixMillis(st.tree_head_unix_millis());
      std::cout << "    last signed tree head: " << st.tree_head_size()
                << " records, "
                << absl::FormatDuration(absl::Trunc(age, absl::Seconds(1)))
                << " ago\n";
    }
    for (const auto& e : st.expiries()) {
      const absl::Time end = absl::FromUnixSeconds(e.not_after_unix());
      const int64_t days = (end - now) / absl::Hours(24);
      std::cout << "    "
                << (e.what() == "CRL" ? "next CRL due  " : "expires  ")
                << absl::FormatTime("%Y-%m-%d", end, absl::UTCTimeZone())
                << "  (" << (end < now ? "EXPIRED " : "") << days << " days)  "
                << e.what() << "  " << e.subject()
                << (end < now || days < 14 ? "  <- renew now" : "") << "\n";
    }
  }
  return rc;
}

}  // namespace

int RunRegistry(const std::vector<std::string>& args) {
  return Dispatch(RegistryTable(), args);
}

int RunNodeStatus(const std::vector<std::string>& args) {
  return RunStatus(args);
}

}  // namespace dx::cli
