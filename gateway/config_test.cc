// The configuration files deploy/ ships load as they are, with the
// environment a node is started with.
#include "gateway/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace dx::gateway {
namespace {

const std::string kDeploy = std::string(DX_SOURCE_DIR) + "/deploy/";

TEST(GatewayConfigTest, TheSingleNodeFileLoads) {
  auto c = LoadGatewayConfig(kDeploy + "dxgate.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node_id(), "gw1");
  EXPECT_TRUE(c->cluster().etcd_endpoints().empty());  // the embedded default
}

TEST(GatewayConfigTest, TheClusterFileTakesTheNodeFromTheEnvironment) {
  ::setenv("DX_NODE_ID", "gw2", 1);
  ::setenv("DX_ADVERTISE", "10.0.0.22:8443", 1);
  auto c = LoadGatewayConfig(kDeploy + "cluster/dxgate-node.yaml");
  ::unsetenv("DX_NODE_ID");
  ::unsetenv("DX_ADVERTISE");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node_id(), "gw2");
  EXPECT_EQ(c->data_dir(), "/var/lib/dxgate/gw2");
  EXPECT_EQ(c->tls().cert_file(), "/etc/dxgate/pki/gateways/gw2/tls.pem");
  EXPECT_EQ(c->cluster().advertise_address(), "10.0.0.22:8443");
  EXPECT_EQ(c->cluster().etcd_endpoints_size(), 3);
}

TEST(GatewayConfigTest, AnUnsetVariableIsRefusedWithItsLine) {
  ::unsetenv("DX_NODE_ID");
  auto c = LoadGatewayConfig(kDeploy + "cluster/dxgate-node.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("dxgate-node.yaml:5: ${DX_NODE_ID} is "
                                      "not set"),
            std::string::npos)
      << c.status();
}

}  // namespace
}  // namespace dx::gateway
