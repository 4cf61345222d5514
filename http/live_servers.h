// The refusal counts of every http::Server alive in this process, by its
// name ("console", "metrics"), for the metrics family dx_http_refused_total
// (metrics/http_families.h). Each Server registers itself when it starts
// and leaves when it is destroyed, so no wiring can forget a port.
// Thread-safe.
#ifndef DX_HTTP_LIVE_SERVERS_H_
#define DX_HTTP_LIVE_SERVERS_H_

#include <string>
#include <vector>

#include "http/server.h"

namespace dx::http {

struct NamedCounts {
  std::string name;
  Server::Counts counts;  // summed over the live servers of that name
};

// One entry per server name, sorted by name.
std::vector<NamedCounts> LiveServerCounts();

namespace internal {
void AddLiveServer(const Server* server);
void RemoveLiveServer(const Server* server);
}  // namespace internal

}  // namespace dx::http

#endif  // DX_HTTP_LIVE_SERVERS_H_
