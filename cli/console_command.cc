// dxctl console login: signs in to the web console with a person's dx
// certificate and key, which never leave this machine. It asks the console
// for a challenge, signs "dxgate console sign-in\n" + challenge with the
// key (ECDSA P-256 / SHA-256), sends the signature with the certificate,
// and prints the one-time link (valid 60 seconds) to open in the browser.
#include <httplib.h>

#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "certs/crypto.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "cli/pki_layout.h"
#include "common/files.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace dx::cli {
namespace {

namespace pb = google::protobuf;

constexpr char kUsage[] =
    "usage: dxctl console login --console https://HOST:PORT\n"
    "           (--pki DIR --person NAME | --cert F --key F) [--ca F]\n"
    "  signs a challenge of the console with your person key and prints a\n"
    "  one-time sign-in link (valid 60 seconds) for your browser; --ca is\n"
    "  the CA that issued the gateway's certificate (default: the PKI's\n"
    "  root-ca.pem)\n";

std::string Field(const std::string& json, const char* key) {
  pb::Struct s;
  if (!pb::util::JsonStringToMessage(json, &s).ok()) return "";
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "" : it->second.string_value();
}

absl::Status Login(const Flags& f) {
  std::string url = f.Get("console");
  if (!absl::StartsWith(url, "https://")) {
    return absl::InvalidArgumentError(
        "--console must be the console's https:// address");
  }
  url = url.substr(8);
  while (absl::EndsWith(url, "/")) url.pop_back();
  const size_t colon = url.rfind(':');
  int port = 443;
  std::string host = url;
  if (colon != std::string::npos) {
    host = url.substr(0, colon);
    if (!absl::SimpleAtoi(url.substr(colon + 1), &port)) {
      return absl::InvalidArgumentError("--console: the port is not a number");
    }
  }
  const PkiLayout pki{f.Get("pki")};
  std::string cert_file = f.Get("cert"), key_file = f.Get("key");
  if (cert_file.empty() && f.Has("person")) {
    cert_file = pki.person(f.Get("person")) + "/tls.pem";
    key_file = pki.person(f.Get("person")) + "/tls.key";
  }
  if (cert_file.empty() || key_file.empty()) {
    return absl::InvalidArgumentError(
        "give --pki DIR --person NAME, or --cert F --key F");
  }
  const std::string ca = f.Get("ca", f.Has("pki") ? pki.root_ca() : "");
  auto cert_pem = ReadFile(cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadFile(key_file);
  if (!key_pem.ok()) return key_pem.status();
  auto signer = certs::Signer::FromPem(*key_pem, *cert_pem);
  if (!signer.ok()) return signer.status();

  httplib::SSLClient client(host, port);
  if (!ca.empty()) client.set_ca_cert_path(ca.c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  auto challenge = client.Get("/api/challenge");
  if (!challenge || challenge->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach the console at https://", url, ": ",
                     challenge ? absl::StrCat("HTTP ", challenge->status)
                               : httplib::to_string(challenge.error())));
  }
  const std::string c = Field(challenge->body, "challenge");
  auto sig = (*signer)->Sign(absl::StrCat("dxgate console sign-in\n", c));
  if (!sig.ok()) return sig.status();
  pb::Struct body;
  (*body.mutable_fields())["challenge"].set_string_value(c);
  (*body.mutable_fields())["certificate_pem"].set_string_value(*cert_pem);
  (*body.mutable_fields())["signature"].set_string_value(
      absl::Base64Escape(*sig));
  std::string json;
  (void)pb::util::MessageToJsonString(body, &json);
  auto answer = client.Post("/api/sign-in", json, "application/json");
  if (!answer) {
    return absl::UnavailableError(httplib::to_string(answer.error()));
  }
  if (answer->status != 200) {
    return absl::PermissionDeniedError(
        absl::StrCat("sign-in refused (HTTP ", answer->status,
                     "): ", Field(answer->body, "message")));
  }
  std::cout << "signed in as " << Field(answer->body, "actor")
            << "; open within 60 seconds:\n"
            << Field(answer->body, "url") << "\n";
  return absl::OkStatus();
}

}  // namespace

int RunConsole(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "login") {
    std::cout << kUsage;
    return args.size() == 1 && args[0] == "--help" ? kExitOk : kExitUsage;
  }
  auto f =
      Flags::Parse({args.begin() + 1, args.end()},
                   {"console", "pki", "person", "cert", "key", "ca"}, {"help"});
  if (!f.ok() || f->Has("help") || !f->Has("console")) {
    if (!f.ok()) std::cerr << "dxctl console: " << f.status().message() << "\n";
    std::cout << kUsage;
    return f.ok() && f->Has("help") ? kExitOk : kExitUsage;
  }
  absl::Status s = Login(*f);
  return s.ok() ? kExitOk : Fail("console login", s);
}

}  // namespace dx::cli
