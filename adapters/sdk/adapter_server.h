// AdapterServer: the provider side of the Adapter service. Serves one or
// more datasets over mutual TLS, admits only gateway certificates (URI
// urn:dx:gateway:<node>), and maps each call to its dataset's DataSource.
#ifndef DX_ADAPTERS_SDK_ADAPTER_SERVER_H_
#define DX_ADAPTERS_SDK_ADAPTER_SERVER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/sdk/data_source.h"

namespace grpc {
class Server;
}

namespace dx::adapters {

class AdapterServer {
 public:
  struct Options {
    std::string listen_address = "127.0.0.1:0";
    std::string cert_chain_pem;   // the adapter's TLS certificate chain
    std::string private_key_pem;  // and key
    std::string ca_pem;           // trust anchors for the gateway's certificate
    // Gateway node ids allowed to call; empty allows any gateway.
    std::vector<std::string> allowed_gateways;
  };
  using Sources = std::map<std::string, std::unique_ptr<DataSource>>;

  static absl::StatusOr<std::unique_ptr<AdapterServer>> Start(Options options,
                                                              Sources sources);
  ~AdapterServer();

  int port() const { return port_; }
  // Stops accepting calls and waits up to `grace_seconds` for those running.
  void Shutdown(int grace_seconds);
  void Wait();

 private:
  class Service;
  AdapterServer() = default;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace dx::adapters

#endif  // DX_ADAPTERS_SDK_ADAPTER_SERVER_H_
