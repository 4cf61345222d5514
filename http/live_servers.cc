// The process's live HTTP servers, for their refusal counts
// (live_servers.h).
#include "http/live_servers.h"

#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace dx::http {
namespace {

struct Live {
  absl::Mutex mu;
  absl::flat_hash_set<const Server*> servers ABSL_GUARDED_BY(mu);
};

Live& LiveSet() {
  static Live* live = new Live;  // never destroyed: servers may outlive main
  return *live;
}

}  // namespace

namespace internal {

void AddLiveServer(const Server* server) {
  Live& live = LiveSet();
  absl::MutexLock lock(&live.mu);
  live.servers.insert(server);
}

void RemoveLiveServer(const Server* server) {
  Live& live = LiveSet();
  absl::MutexLock lock(&live.mu);
  live.servers.erase(server);
}

}  // namespace internal

std::vector<NamedCounts> LiveServerCounts() {
  std::map<std::string, Server::Counts> by_name;
  {
    Live& live = LiveSet();
    absl::MutexLock lock(&live.mu);
    for (const Server* s : live.servers) {
      const Server::Counts c = s->counts();
      Server::Counts& sum = by_name[s->name()];
      sum.connections_refused += c.connections_refused;
      sum.requests_too_large += c.requests_too_large;
      sum.requests_timed_out += c.requests_timed_out;
      sum.requests_overloaded += c.requests_overloaded;
    }
  }
  std::vector<NamedCounts> out;
  for (auto& [name, counts] : by_name) out.push_back({name, counts});
  return out;
}

}  // namespace dx::http
