#include "gateway/federation_routes.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "audit/state_db.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/fake_clock.h"
#include "common/testing/temp_dir.h"
#include "gateway/federation_anchors.h"

namespace dx::gateway {
namespace {

using ::dx::testing::ReadOrDie;

// A hub's anchor names three platforms: the ministry (the dev PKI, a
// gateway gw1 named localhost, agency G01, dataset bca.population), this
// platform, the province (a PKI of its own, a gateway of its own), and a
// platform with a root and no gateway. The anchor expires two hours after
// the suite starts; a second operator's anchor, valid for two days, names
// the ministry alone.
class FederationRoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    bca_ = new std::string(dx::testing::DevPkiDir());
    dir_ = new std::string(dx::testing::MakeTempDir("federation-routes"));
    const std::string& d = *dir_;
    hanoi_ = new std::string(d + "/hanoi");
    ASSERT_EQ(dx::testing::RunPkiScript("init", *hanoi_, ""), 0);
    const std::string cmds = absl::StrCat(
        "cd ", d, " && ",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -keyout hub.key -out hub.pem -days 30 -subj /CN=hub "
        "2>/dev/null && ",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -keyout south.key -out south.pem -days 30 -subj /CN=south "
        "2>/dev/null && ",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -keyout quiet.key -out quiet-root.pem -days 30 "
        "-subj /CN=quiet-root -addext basicConstraints=critical,CA:TRUE "
        "2>/dev/null");
    ASSERT_EQ(std::system(cmds.c_str()), 0);
    start_ = new absl::Time(absl::Now());
    WriteAnchor("hub", "vn.ndxp.hub", absl::Hours(2),
                absl::StrCat(Platform("vn.gov.bca", *bca_, true,
                                      "    agencies: [\"000.00.00.G01\"]\n"
                                      "    datasets: [bca.population]\n"),
                             Platform("vn.gov.hanoi", *hanoi_, true,
                                      "    agencies: [\"000.00.00.H30\"]\n"),
                             "  - platform_id: vn.gov.quiet\n"
                             "    root_certificates_pem:\n",
                             Block(ReadOrDie(d + "/quiet-root.pem")),
                             "    agencies: [\"000.00.00.G12\"]\n"));
    WriteAnchor("south", "vn.ndxp.south", absl::Hours(48),
                Platform("vn.gov.bca", *bca_, true,
                         "    agencies: [\"000.00.00.G01\"]\n"));
  }

  static std::string Block(const std::string& pem) {
    std::string body(absl::StripSuffix(pem, "\n"));
    return absl::StrCat("      - |\n        ",
                        absl::StrReplaceAll(body, {{"\n", "\n        "}}),
                        "\n");
  }
  static std::string Platform(const std::string& id, const std::string& pki,
                              bool gateway, const std::string& rest) {
    return absl::StrCat(
        "  - platform_id: ", id, "\n    root_certificates_pem:\n",
        Block(ReadOrDie(pki + "/root-ca.pem")),
        "    intermediate_certificates_pem:\n",
        Block(ReadOrDie(pki + "/intermediate-ca.pem")),
        gateway ? "    gateways: [{address: \"127.0.0.1:7443\", tls_name: "
                  "localhost}]\n"
                : "",
        rest);
  }
  // `name`.yaml and `name`.sig, signed by `name`.key.
  static void WriteAnchor(const std::string& name, const std::string& op,
                          absl::Duration valid, const std::string& platforms) {
    const auto rfc3339 = [](absl::Time t) {
      return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
    };
    const std::string yaml =
        absl::StrCat("platform_id: ", op, "\nserial: 1\nissued_at: \"",
                     rfc3339(*start_ - absl::Hours(1)), "\"\nexpires_at: \"",
                     rfc3339(*start_ + valid), "\"\nplatforms:\n", platforms);
    auto signer = certs::Signer::FromFiles(*dir_ + "/" + name + ".key",
                                           *dir_ + "/" + name + ".pem");
    ASSERT_TRUE(signer.ok()) << signer.status();
    std::ofstream(*dir_ + "/" + name + ".yaml", std::ios::binary) << yaml;
    std::ofstream(*dir_ + "/" + name + ".sig", std::ios::binary)
        << *(*signer)->Sign(yaml);
  }

  // Anchors in force: the hub's, and the south's when `south`.
  void Load(bool south = false) {
    routes_.reset();
    anchors_.reset();
    db_.reset();
    config_.set_platform_id("vn.gov.hanoi");
    config_.clear_anchors();
    for (const auto& [name, op] :
         std::vector<std::pair<std::string, std::string>>{
             {"hub", "vn.ndxp.hub"}, {"south", "vn.ndxp.south"}}) {
      if (name == "south" && !south) continue;
      v1::FederationAnchorFile* f = config_.add_anchors();
      f->set_operator_platform_id(op);
      f->set_anchor_file(*dir_ + "/" + name + ".yaml");
      f->set_signature_file(*dir_ + "/" + name + ".sig");
      f->set_operator_certificate_file(*dir_ + "/" + name + ".pem");
    }
    db_ = *audit::StateDb::Open({dx::testing::MakeTempDir("routes") + "/db"});
    auto anchors = FederationAnchors::Load({&config_, db_.get(), &clock_});
    ASSERT_TRUE(anchors.ok()) << anchors.status();
    anchors_ = *std::move(anchors);
    routes_ =
        std::make_unique<FederationRoutes>(config_, anchors_.get(), &clock_);
  }
  void SetUp() override { Load(); }

  static v1::Dataset PeerDataset(const std::string& platform) {
    v1::Dataset d;
    d.set_id("bca.population");
    d.set_peer_platform(platform);
    return d;
  }
  static std::string Der(const std::string& pem_path) {
    absl::StatusOr<certs::X509Ptr> c =
        certs::ParseCertificatePem(ReadOrDie(pem_path));
    EXPECT_TRUE(c.ok());
    return certs::CertificateToDer(c->get());
  }
  static std::vector<std::string> Ders(const std::string& pem) {
    absl::StatusOr<std::vector<std::string>> ders = certs::PemBundleToDer(pem);
    return ders.ok() ? *ders : std::vector<std::string>{};
  }

  static std::string* bca_;
  static std::string* hanoi_;
  static std::string* dir_;
  static absl::Time* start_;

  FakeClock clock_{*start_};
  v1::FederationConfig config_;
  std::unique_ptr<audit::StateDb> db_;
  std::unique_ptr<FederationAnchors> anchors_;
  std::unique_ptr<FederationRoutes> routes_;
};
std::string* FederationRoutesTest::bca_ = nullptr;
std::string* FederationRoutesTest::hanoi_ = nullptr;
std::string* FederationRoutesTest::dir_ = nullptr;
absl::Time* FederationRoutesTest::start_ = nullptr;

TEST_F(FederationRoutesTest, TheConfigGivesTheLimitsAndTheirDefaults) {
  EXPECT_EQ(routes_->platform_id(), "vn.gov.hanoi");
  EXPECT_EQ(routes_->max_hops(), 3u);
  EXPECT_EQ(routes_->return_margin(), absl::Milliseconds(200));
  v1::FederationConfig c = config_;
  c.set_max_hops(5);
  c.set_return_margin_ms(50);
  FederationRoutes set(c, anchors_.get(), &clock_);
  EXPECT_EQ(set.max_hops(), 5u);
  EXPECT_EQ(set.return_margin(), absl::Milliseconds(50));
}

TEST_F(FederationRoutesTest, RouteToFindsThePlatformsGatewaysAndRoots) {
  absl::StatusOr<PeerRoute> route = routes_->RouteTo(PeerDataset("vn.gov.bca"));
  ASSERT_TRUE(route.ok()) << route.status();
  EXPECT_EQ(route->platform_id, "vn.gov.bca");
  ASSERT_EQ(route->gateways.size(), 1u);
  EXPECT_EQ(route->gateways[0].address(), "127.0.0.1:7443");
  EXPECT_EQ(route->gateways[0].tls_name(), "localhost");
  // Its roots, and only its: the gateway's TLS chains to them.
  EXPECT_EQ(Ders(route->roots_pem),
            std::vector<std::string>{Der(*bca_ + "/root-ca.pem")});
}

TEST_F(FederationRoutesTest, RouteToRefusesWhatNoAnchorRoutes) {
  absl::StatusOr<PeerRoute> route =
      routes_->RouteTo(PeerDataset("vn.gov.nowhere"));
  EXPECT_EQ(route.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(route.status().message().find("vn.gov.nowhere"), std::string::npos)
      << route.status();
  // Named, but with no gateway to send to.
  route = routes_->RouteTo(PeerDataset("vn.gov.quiet"));
  EXPECT_EQ(route.status().code(), absl::StatusCode::kFailedPrecondition)
      << route.status();
  // Never to ourselves, though the anchor lists us with a gateway.
  route = routes_->RouteTo(PeerDataset("vn.gov.hanoi"));
  EXPECT_EQ(route.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(route.status().message().find("names this platform"),
            std::string::npos)
      << route.status();
}

TEST_F(FederationRoutesTest, IdentifyHopTakesAPeersGatewayOnly) {
  absl::StatusOr<Hop> hop =
      routes_->IdentifyHop(ReadOrDie(*bca_ + "/gateway/tls.pem"));
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->platform_id, "vn.gov.bca");
  EXPECT_EQ(hop->gateway_node, "gw1");
  // An agency of the peer is not its gateway.
  hop = routes_->IdentifyHop(
      ReadOrDie(*bca_ + "/agencies/000.00.00.G01/tls.pem"));
  EXPECT_EQ(hop.status().code(), absl::StatusCode::kPermissionDenied);
  // A gateway of this platform's own entry is not a hop.
  hop = routes_->IdentifyHop(ReadOrDie(*hanoi_ + "/gateway/tls.pem"));
  EXPECT_EQ(hop.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(hop.status().message().find("this very platform"),
            std::string::npos)
      << hop.status();
  EXPECT_FALSE(routes_->IdentifyHop("").ok());
  EXPECT_FALSE(routes_->IdentifyHop("not a pem").ok());
}

TEST_F(FederationRoutesTest, PeerGatewayRootsAreThePeersWithGatewaysOnly) {
  EXPECT_EQ(Ders(routes_->PeerGatewayRootsPem()),
            std::vector<std::string>{Der(*bca_ + "/root-ca.pem")});
}

TEST_F(FederationRoutesTest, AForwardedConsumerChainsToItsOwnPlatform) {
  const std::string g01 = Der(*bca_ + "/agencies/000.00.00.G01/sign.pem");
  absl::StatusOr<certs::PkeyPtr> key =
      routes_->VerifyForwardedConsumer("000.00.00.G01", g01);
  ASSERT_TRUE(key.ok()) << key.status();
  auto signer =
      certs::Signer::FromFiles(*bca_ + "/agencies/000.00.00.G01/sign.key",
                               *bca_ + "/agencies/000.00.00.G01/sign.pem");
  ASSERT_TRUE(signer.ok());
  EXPECT_TRUE(certs::VerifySignature(key->get(), "envelope",
                                     *(*signer)->Sign("envelope")));
  // The province's PKI also issued a "G01": not the ministry's G01.
  key = routes_->VerifyForwardedConsumer(
      "000.00.00.G01", Der(*hanoi_ + "/agencies/000.00.00.G01/sign.pem"));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kPermissionDenied);
  // No platform speaks for H29.
  key = routes_->VerifyForwardedConsumer(
      "000.00.00.H29", Der(*bca_ + "/agencies/000.00.00.H29/sign.pem"));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(key.status().message().find("000.00.00.H29"), std::string::npos)
      << key.status();
  // Our own agency (H30 is Hanoi's) never comes through a peer, even with a
  // certificate of our own PKI: its CRL is checked only on a direct call.
  key = routes_->VerifyForwardedConsumer(
      "000.00.00.H30", Der(*hanoi_ + "/agencies/000.00.00.H30/sign.pem"));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(key.status().message().find("this platform's"), std::string::npos)
      << key.status();
}

TEST_F(FederationRoutesTest, AnAnswerIsSignedByAPeersGateway) {
  absl::StatusOr<std::string> p =
      routes_->AnswerSignerPlatform(Der(*bca_ + "/gateway/sign.pem"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, "vn.gov.bca");
  // Our own gateway's signature is no peer's answer.
  EXPECT_EQ(routes_->AnswerSignerPlatform(Der(*hanoi_ + "/gateway/sign.pem"))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  // An agency of the peer is not its gateway.
  EXPECT_EQ(routes_
                ->AnswerSignerPlatform(
                    Der(*bca_ + "/agencies/000.00.00.G01/sign.pem"))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(routes_->AnswerSignerPlatform("junk").ok());
}

TEST_F(FederationRoutesTest, AnExpiredAnchorGivesNoTrust) {
  const std::string gateway_tls = ReadOrDie(*bca_ + "/gateway/tls.pem");
  const std::string gateway_sign = Der(*bca_ + "/gateway/sign.pem");
  const std::string g01 = Der(*bca_ + "/agencies/000.00.00.G01/sign.pem");
  clock_.Set(*start_ + absl::Hours(2) - absl::Seconds(1));
  EXPECT_TRUE(routes_->RouteTo(PeerDataset("vn.gov.bca")).ok());
  EXPECT_TRUE(routes_->IdentifyHop(gateway_tls).ok());
  EXPECT_TRUE(routes_->AnswerSignerPlatform(gateway_sign).ok());
  EXPECT_TRUE(routes_->VerifyForwardedConsumer("000.00.00.G01", g01).ok());
  EXPECT_FALSE(routes_->PeerGatewayRootsPem().empty());

  clock_.Set(*start_ + absl::Hours(2));
  // The TLS port stops trusting the peers' roots at its next rewrite.
  EXPECT_EQ(routes_->PeerGatewayRootsPem(), "");
  EXPECT_EQ(routes_->RouteTo(PeerDataset("vn.gov.bca")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(routes_->IdentifyHop(gateway_tls).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(routes_->AnswerSignerPlatform(gateway_sign).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(
      routes_->VerifyForwardedConsumer("000.00.00.G01", g01).status().code(),
      absl::StatusCode::kPermissionDenied);
}

TEST_F(FederationRoutesTest, AnotherAnchorInForceStillRoutesWhenOneExpires) {
  Load(/*south=*/true);
  clock_.Set(*start_ + absl::Hours(3));  // the hub's anchor is past
  absl::StatusOr<PeerRoute> route = routes_->RouteTo(PeerDataset("vn.gov.bca"));
  ASSERT_TRUE(route.ok()) << route.status();
  EXPECT_EQ(route->platform_id, "vn.gov.bca");
  absl::StatusOr<Hop> hop =
      routes_->IdentifyHop(ReadOrDie(*bca_ + "/gateway/tls.pem"));
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->platform_id, "vn.gov.bca");
  // The platform without a gateway was the expired anchor's alone.
  EXPECT_FALSE(routes_->RouteTo(PeerDataset("vn.gov.quiet")).ok());
}

}  // namespace
}  // namespace dx::gateway
