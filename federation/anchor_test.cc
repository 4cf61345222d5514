#include "federation/anchor.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/testing/temp_dir.h"

namespace dx::federation {
namespace {

using ::dx::testing::ReadOrDie;

// The anchor's own text: the hub vouches for itself, the Ministry of Public
// Security's platform (the dev PKI's root) and a province (a root of its
// own). Indented PEM is filled in by Yaml().
constexpr char kAnchor[] = R"(platform_id: vn.ndxp.hub
serial: 7
issued_at: "ISSUED"
expires_at: "EXPIRES"
platforms:
  - platform_id: vn.gov.bca
    display_name: Ministry of Public Security
    root_certificates_pem: [ROOT_A]
    gateways: [{address: "127.0.0.1:7443", tls_name: localhost}]
    agencies: ["000.00.00.G01", "000.00.01."]
    datasets: [bca.population]
  - platform_id: vn.gov.hanoi
    display_name: Ha Noi LGSP
    root_certificates_pem: [ROOT_B]
    gateways: [{address: "127.0.0.1:8443", tls_name: localhost}]
    agencies: ["H30."]
    datasets: [hanoi.households]
)";

class AnchorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The dev PKI is made on first use, and its root is valid from that
    // second: made here, before any test takes its "now" (an argument that
    // took it before a call that made the PKI saw the root not yet valid).
    (void)dx::testing::DevPkiDir();
    dir_ = new std::string(dx::testing::MakeTempDir("anchor-test"));
    const std::string& d = *dir_;
    // The operator's key and certificate, another key (an attacker's), and
    // a second platform's root: made with the openssl CLI, as an operator
    // would.
    const std::string cmds = absl::StrCat(
        "cd ", d, " && ",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -keyout op.key -out op.pem -days 30 -subj /CN=hub-operator "
        "2>/dev/null && ",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -keyout evil.key -out evil.pem -days 30 -subj /CN=evil "
        "2>/dev/null && ",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -keyout b.key -out root-b.pem -days 30 -subj /CN=hanoi-root "
        "-addext basicConstraints=critical,CA:TRUE 2>/dev/null");
    ASSERT_EQ(std::system(cmds.c_str()), 0);
  }

  static std::string Indent(const std::string& pem) {
    // A block scalar; the PEM's last newline ends it.
    std::string body(absl::StripSuffix(pem, "\n"));
    return absl::StrCat("|\n        ",
                        absl::StrReplaceAll(body, {{"\n", "\n        "}}));
  }
  // The anchor with the roots filled in (a block scalar per root).
  static std::string Yaml(std::string text = kAnchor) {
    const std::string root_a =
        ReadOrDie(dx::testing::DevPkiDir() + "/root-ca.pem");
    const std::string root_b = ReadOrDie(*dir_ + "/root-b.pem");
    text = absl::StrReplaceAll(
        text, {{"root_certificates_pem: [ROOT_A]",
                "root_certificates_pem:\n      - " + Indent(root_a)},
               {"root_certificates_pem: [ROOT_B]",
                "root_certificates_pem:\n      - " + Indent(root_b)}});
    const auto rfc3339 = [](absl::Time t) {
      return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
    };
    return absl::StrReplaceAll(
        text, {{"ISSUED", rfc3339(kIssued)}, {"EXPIRES", rfc3339(kExpires)}});
  }
  static inline const absl::Time kIssued = absl::Now() - absl::Hours(24);
  static inline const absl::Time kExpires = kIssued + absl::Hours(24 * 365);
  static std::string Sign(const std::string& data, const std::string& who) {
    auto signer = certs::Signer::FromPem(ReadOrDie(*dir_ + "/" + who + ".key"),
                                         ReadOrDie(*dir_ + "/" + who + ".pem"));
    EXPECT_TRUE(signer.ok()) << signer.status();
    return *(*signer)->Sign(data);
  }
  // Options at `now` (the dev PKI is made today, so tests run at today's
  // time; the anchor was issued a day ago and expires in a year).
  static Anchor::Options At(absl::Time now = absl::Now()) {
    Anchor::Options o;
    o.now = now;
    o.operator_platform_id = "vn.ndxp.hub";
    return o;
  }
  static absl::StatusOr<Anchor> Load(const std::string& yaml,
                                     const Anchor::Options& o = At()) {
    return Anchor::Load(yaml, Sign(yaml, "op"), ReadOrDie(*dir_ + "/op.pem"),
                        o);
  }
  static void Write(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  }

  static std::string* dir_;
};
std::string* AnchorTest::dir_ = nullptr;

TEST_F(AnchorTest, AValidAnchorRoutesAgenciesAndDatasetsToTheirPlatform) {
  absl::StatusOr<Anchor> a = Load(Yaml());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->serial(), 7u);
  ASSERT_EQ(a->platforms().size(), 2u);
  EXPECT_EQ(a->platforms()[0].roots_der.size(), 1u);
  ASSERT_NE(a->PlatformOfAgency("000.00.00.G01"), nullptr);
  EXPECT_EQ(a->PlatformOfAgency("000.00.00.G01")->id, "vn.gov.bca");
  EXPECT_EQ(a->PlatformOfAgency("000.00.01.X99")->id, "vn.gov.bca");
  EXPECT_EQ(a->PlatformOfAgency("H30.12.3")->id, "vn.gov.hanoi");
  // A code is not a prefix: G011 is not G01's.
  EXPECT_EQ(a->PlatformOfAgency("000.00.00.G011"), nullptr);
  EXPECT_EQ(a->PlatformOfAgency("H31.1"), nullptr);
  EXPECT_EQ(a->PlatformOfDataset("hanoi.households")->id, "vn.gov.hanoi");
  EXPECT_EQ(a->PlatformOfDataset("mof.business"), nullptr);
  EXPECT_EQ(a->Find("vn.gov.bca")->gateways[0].address(), "127.0.0.1:7443");
}

TEST_F(AnchorTest, TheOperatorsSignatureChecksWithTheOpensslCli) {
  // An independent checker: the openssl CLI, as the docs tell operators.
  const std::string& d = *dir_;
  const std::string yaml = Yaml();
  Write(d + "/anchor.yaml", yaml);
  Write(d + "/anchor.yaml.sig", Sign(yaml, "op"));
  const std::string verify = absl::StrCat(
      "cd ", d, " && openssl x509 -in op.pem -pubkey -noout > op.pub && ",
      "openssl dgst -sha256 -verify op.pub -signature anchor.yaml.sig "
      "anchor.yaml >/dev/null");
  EXPECT_EQ(std::system(verify.c_str()), 0);
  // And an anchor signed with the CLI loads from files.
  const std::string sign =
      absl::StrCat("cd ", d,
                   " && openssl dgst -sha256 -sign op.key -out cli.sig "
                   "anchor.yaml");
  ASSERT_EQ(std::system(sign.c_str()), 0);
  absl::StatusOr<Anchor> a = Anchor::LoadFiles(
      d + "/anchor.yaml", d + "/cli.sig", d + "/op.pem", At());
  EXPECT_TRUE(a.ok()) << a.status();
}

TEST_F(AnchorTest, AnyChangedByteOrAnotherKeyIsRefusedBeforeParsing) {
  const std::string yaml = Yaml();
  const std::string sig = Sign(yaml, "op");
  const std::string op = ReadOrDie(*dir_ + "/op.pem");
  std::string changed = yaml;
  changed[changed.find("H30.")] = 'K';  // the province claims other agencies
  absl::StatusOr<Anchor> a = Anchor::Load(changed, sig, op, At());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(a.status().message().find("openssl dgst"), std::string::npos);
  // Signed by another key, checked against the operator's certificate.
  a = Anchor::Load(yaml, Sign(yaml, "evil"), op, At());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kPermissionDenied);
  // Not even YAML: refused for its signature, not parsed.
  a = Anchor::Load("{{{ not yaml", sig, op, At());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kPermissionDenied);
  a = Anchor::Load(yaml, "", op, At());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(AnchorTest, AnOlderSerialIsRefusedSoARevokedRootCannotComeBack) {
  Anchor::Options o = At();
  o.min_serial = 8;
  absl::StatusOr<Anchor> a = Load(Yaml(), o);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(a.status().message().find("serial 7"), std::string::npos);
  o.min_serial = 7;  // the same anchor again: a reload
  EXPECT_TRUE(Load(Yaml(), o).ok());
}

TEST_F(AnchorTest, AnAnchorOutOfItsTimeIsRefused) {
  absl::StatusOr<Anchor> a = Load(Yaml(), At(kExpires + absl::Seconds(1)));
  EXPECT_EQ(a.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(a.status().message().find("expired"), std::string::npos);
  a = Load(Yaml(), At(kIssued - absl::Hours(1)));
  EXPECT_EQ(a.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(a.status().message().find("future"), std::string::npos);
}

TEST_F(AnchorTest, NoPlatformMaySpeakForAnothersAgenciesOrDatasets) {
  // Hanoi's entry also claims a code under the ministry's prefix.
  std::string text = absl::StrReplaceAll(
      kAnchor,
      {{"agencies: [\"H30.\"]", "agencies: [\"H30.\", \"000.00.01.G01\"]"}});
  absl::StatusOr<Anchor> a = Load(Yaml(text));
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("overlaps 000.00.01. of vn.gov.bca"),
            std::string::npos)
      << a.status();
  // A broader prefix over the ministry's code.
  text = absl::StrReplaceAll(
      kAnchor, {{"agencies: [\"H30.\"]", "agencies: [\"000.\"]"}});
  EXPECT_EQ(Load(Yaml(text)).status().code(),
            absl::StatusCode::kInvalidArgument);
  text = absl::StrReplaceAll(kAnchor, {{"datasets: [hanoi.households]",
                                        "datasets: [bca.population]"}});
  a = Load(Yaml(text));
  EXPECT_NE(a.status().message().find("also served by vn.gov.bca"),
            std::string::npos)
      << a.status();
}

TEST_F(AnchorTest, MalformedAnchorsSayWhatIsWrong) {
  struct Case {
    std::string from, to, expect;
  } cases[] = {
      {"platform_id: vn.ndxp.hub", "platform_id: vn.other", "vn.ndxp.hub"},
      {"serial: 7", "serial: 0", "serial"},
      {"expires_at: \"EXPIRES\"", "expires_at: tomorrow", "RFC 3339"},
      {"platform_id: vn.gov.hanoi", "platform_id: vn.gov.bca", "twice"},
      {"platform_id: vn.gov.hanoi", "platform_id: \"Ha Noi\"", "platform_id"},
      {"agencies: [\"H30.\"]", "agencies: [\"H30%2e\"]", "not an agency code"},
      {"address: \"127.0.0.1:8443\"", "address: \"127.0.0.1\"", "host:port"},
      {"display_name: Ha Noi LGSP", "display_name: x\n    secret: 1", "secret"},
  };
  for (const Case& c : cases) {
    const std::string text = absl::StrReplaceAll(kAnchor, {{c.from, c.to}});
    ASSERT_NE(text, kAnchor) << c.from;
    absl::StatusOr<Anchor> a = Load(Yaml(text));
    EXPECT_FALSE(a.ok()) << c.to;
    EXPECT_NE(a.status().message().find(c.expect), std::string::npos)
        << c.to << ": " << a.status();
  }
}

TEST_F(AnchorTest, ARootMustBeACaCertificateInForce) {
  // The dev PKI's gateway TLS certificate is a leaf, not a CA.
  const std::string leaf =
      ReadOrDie(dx::testing::DevPkiDir() + "/gateway/tls.pem");
  std::string yaml = Yaml();
  const std::string root_b = Indent(ReadOrDie(*dir_ + "/root-b.pem"));
  yaml = absl::StrReplaceAll(yaml, {{root_b, Indent(leaf)}});
  absl::StatusOr<Anchor> a = Load(yaml);
  EXPECT_NE(a.status().message().find("not a CA certificate"),
            std::string::npos)
      << a.status();
  // Root B is valid for 30 days from today; 60 days on it is not.
  Anchor::Options later = At();
  later.now = absl::Now() + absl::Hours(24 * 60);
  a = Load(Yaml(), later);
  EXPECT_NE(a.status().message().find("not valid now"), std::string::npos)
      << a.status();
}

TEST_F(AnchorTest, AnOversizedAnchorIsRefusedUnread) {
  const std::string big(Anchor::kMaxBytes + 1, '#');
  absl::StatusOr<Anchor> a = Load(big);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  Write(*dir_ + "/big.yaml", big);
  a = Anchor::LoadFiles(*dir_ + "/big.yaml", *dir_ + "/cli.sig",
                        *dir_ + "/op.pem", At());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dx::federation
