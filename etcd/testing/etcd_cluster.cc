#include "etcd/testing/etcd_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "etcd/client.h"

namespace dx::etcd::testing {
namespace {

// `n` distinct free ports: every socket stays bound until all are chosen,
// so that no two are the same.
std::vector<int> FreePorts(int n) {
  std::vector<int> fds, ports;
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ports.push_back(ntohs(addr.sin_port));
    fds.push_back(fd);
  }
  for (int fd : fds) close(fd);
  return ports;
}

// etcd's HTTP health endpoint on the client port says true: the member
// serves, and the cluster has a leader.
bool Healthy(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req =
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      std::string resp;
      char buf[512];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) resp.append(buf, n);
      ok = resp.find("\"health\":\"true\"") != std::string::npos;
    }
  }
  close(fd);
  return ok;
}

}  // namespace

std::string EtcdCluster::InitialCluster() const {
  std::vector<std::string> parts;
  for (const Member& m : members_) {
    parts.push_back(absl::StrCat(m.name, "=http://127.0.0.1:", m.peer_port));
  }
  return absl::StrJoin(parts, ",");
}

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(int members) {
  std::unique_ptr<EtcdCluster> c(new EtcdCluster());
  char tmpl[] = "/tmp/dx-etcd-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  c->root_ = tmpl;
  const std::vector<int> ports = FreePorts(2 * members);
  for (int i = 0; i < members; ++i) {
    Member m;
    m.name = absl::StrCat("m", i + 1);
    m.dir = absl::StrCat(c->root_, "/", m.name);
    m.client_port = ports[2 * i];
    m.peer_port = ports[2 * i + 1];
    c->members_.push_back(m);
  }
  for (Member& m : c->members_) {
    if (absl::Status s = c->Spawn(m, true); !s.ok()) return s;
  }
  if (absl::Status s = c->WaitHealthy(); !s.ok()) return s;
  return c;
}

absl::Status EtcdCluster::Spawn(Member& m, bool fresh) {
  const std::string client = absl::StrCat("http://127.0.0.1:", m.client_port);
  const std::string peer = absl::StrCat("http://127.0.0.1:", m.peer_port);
  const std::string cluster = InitialCluster();
  std::vector<std::string> args = {"/usr/bin/etcd",
                                   "--name",
                                   m.name,
                                   "--data-dir",
                                   m.dir,
                                   "--listen-client-urls",
                                   client,
                                   "--advertise-client-urls",
                                   client,
                                   "--listen-peer-urls",
                                   peer,
                                   "--initial-advertise-peer-urls",
                                   peer,
                                   "--initial-cluster",
                                   cluster,
                                   "--initial-cluster-state",
                                   fresh ? "new" : "existing",
                                   "--heartbeat-interval",
                                   "100",
                                   "--election-timeout",
                                   "1000",
                                   "--log-level",
                                   "error"};
  const std::string log = m.dir + ".log";
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  m.pid = pid;
  return absl::OkStatus();
}

absl::Status EtcdCluster::WaitHealthy() {
  // Over plain HTTP first: a gRPC connection made while a member is still
  // starting can hang until its deadline.
  const absl::Time http_deadline = absl::Now() + absl::Seconds(30);
  for (const Member& m : members_) {
    if (m.pid <= 0) continue;
    while (!Healthy(m.client_port)) {
      if (absl::Now() > http_deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("etcd member ", m.name,
                         " did not become healthy (logs in ", root_, ")"));
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  Client::Options o;
  o.endpoints = endpoints();
  o.attempt_timeout = absl::Seconds(2);
  auto client = Client::Create(o);
  if (!client.ok()) return client.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  etcdserverpb::RangeRequest probe;
  probe.set_key("/health-probe");
  absl::Status last;
  while (absl::Now() < deadline) {
    auto r = (*client)->RangeNow(probe);  // linearizable: needs a leader
    if (r.ok()) return absl::OkStatus();
    last = r.status();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("the etcd cluster did not become ready: ", last.message(),
                   " (logs in ", root_, ")"));
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (const Member& m : members_) {
    out.push_back(absl::StrCat("127.0.0.1:", m.client_port));
  }
  return out;
}

void EtcdCluster::Kill(int i) {
  Member& m = members_[i];
  if (m.pid <= 0) return;
  kill(m.pid, SIGCONT);
  kill(m.pid, SIGKILL);
  waitpid(m.pid, nullptr, 0);
  m.pid = 0;
}

void EtcdCluster::Freeze(int i) {
  if (members_[i].pid > 0) kill(members_[i].pid, SIGSTOP);
}

void EtcdCluster::Resume(int i) {
  if (members_[i].pid > 0) kill(members_[i].pid, SIGCONT);
}

absl::Status EtcdCluster::Restart(int i) {
  Kill(i);
  return Spawn(members_[i], false);
}

EtcdCluster::~EtcdCluster() {
  for (size_t i = 0; i < members_.size(); ++i) Kill(static_cast<int>(i));
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

}  // namespace dx::etcd::testing
