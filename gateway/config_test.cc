// The configuration files deploy/ ships load as they are, with the
// environment a node is started with.
#include "gateway/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "absl/strings/match.h"
#include "common/testing/temp_dir.h"

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

// A node's config with `audit` as given, in a folder of its own.
std::string ConfigWithAudit(const std::string& audit) {
  const std::string dir = testing::MakeTempDir("dx-config-");
  const std::string path = dir + "/dxgate.yaml";
  std::ofstream(path) << "node_id: gw1\n"
                         "tls: {cert_file: t.pem, key_file: t.key}\n"
                         "signing: {cert_file: s.pem, key_file: s.key}\n"
                         "trust: {ca_file: ca.pem}\n"
                         "data_dir: data\n"
                         "registry_file: registry.yaml\n"
                      << audit;
  return path;
}

TEST(GatewayConfigTest, TimestampingIsOffUnlessAUrlIsSet) {
  auto c = LoadGatewayConfig(ConfigWithAudit(""));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->audit().timestamping().url().empty());
}

TEST(GatewayConfigTest, TimestampingTakesDefaultsAndResolvesItsFiles) {
  const std::string path = ConfigWithAudit(
      "audit: {timestamping: {url: 'http://127.0.0.1:3180/tsa', "
      "ca_file: tsa.pem}}\n");
  auto c = LoadGatewayConfig(path);
  ASSERT_TRUE(c.ok()) << c.status();
  const v1::TimestampAuthorityConfig& t = c->audit().timestamping();
  const std::string dir = path.substr(0, path.rfind('/'));
  EXPECT_EQ(t.ca_file(), dir + "/tsa.pem");
  EXPECT_EQ(t.tls_ca_file(), dir + "/tsa.pem");
  EXPECT_EQ(t.interval_seconds(), 600u);
  EXPECT_EQ(t.timeout_ms(), 10000u);
  EXPECT_EQ(t.max_reply_bytes(), 65536u);
}

TEST(GatewayConfigTest, ABadTimestampingSectionIsNamed) {
  for (const auto& [audit, field] :
       std::vector<std::pair<std::string, std::string>>{
           {"audit: {timestamping: {url: 'ftp://x/', ca_file: a.pem}}\n",
            "audit.timestamping.url"},
           {"audit: {timestamping: {url: 'http://x/'}}\n",
            "audit.timestamping.ca_file"},
           {"audit: {timestamping: {ca_file: a.pem}}\n",
            "audit.timestamping.url"}}) {
    auto c = LoadGatewayConfig(ConfigWithAudit(audit));
    ASSERT_FALSE(c.ok()) << audit;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(c.status().message(), field)) << c.status();
  }
}

TEST(GatewayConfigTest, FederationAnchorsResolveTheirFiles) {
  const std::string path = ConfigWithAudit(
      "federation: {platform_id: vn.gov.hanoi, anchors: [{"
      "operator_platform_id: vn.ndxp.hub, anchor_file: hub.yaml, "
      "signature_file: hub.yaml.sig, operator_certificate_file: hub.pem}]}\n");
  auto c = LoadGatewayConfig(path);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string dir = path.substr(0, path.rfind('/'));
  const v1::FederationAnchorFile& a = c->federation().anchors(0);
  EXPECT_EQ(a.anchor_file(), dir + "/hub.yaml");
  EXPECT_EQ(a.signature_file(), dir + "/hub.yaml.sig");
  EXPECT_EQ(a.operator_certificate_file(), dir + "/hub.pem");
}

TEST(GatewayConfigTest, ABadFederationSectionIsNamed) {
  const std::string one =
      "{operator_platform_id: vn.ndxp.hub, anchor_file: a.yaml, "
      "signature_file: a.sig, operator_certificate_file: a.pem}";
  for (const auto& [federation, field] :
       std::vector<std::pair<std::string, std::string>>{
           {"federation: {anchors: [" + one + "]}\n", "federation.platform_id"},
           {"federation: {platform_id: p, anchors: [" + one + ", " + one +
                "]}\n",
            "federation.anchors[1].operator_platform_id vn.ndxp.hub is also "
            "anchors[0]'s"},
           {"federation: {platform_id: p, anchors: [{operator_platform_id: "
            "x, anchor_file: a.yaml}]}\n",
            "federation.anchors[0].anchor_file, signature_file and "
            "operator_certificate_file must all be set"},
           {"federation: {platform_id: p, anchors: [{anchor_file: a.yaml}]}\n",
            "federation.anchors[0].operator_platform_id"}}) {
    auto c = LoadGatewayConfig(ConfigWithAudit(federation));
    ASSERT_FALSE(c.ok()) << federation;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(c.status().message(), field)) << c.status();
  }
}

}  // namespace
}  // namespace dx::gateway
