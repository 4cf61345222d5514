// A local RFC 3161 authority for tests: a root CA and a time-stamping
// certificate under it (critical timeStamping usage, as RFC 3161 2.3
// requires), made with the openssl CLI in a folder of the test's, and
// `openssl ts -reply` answering requests with them. The independent
// implementation our client is checked against. Header-only; not
// thread-safe (one folder, one reply at a time).
#ifndef DX_TIMESTAMP_TESTING_LOCAL_AUTHORITY_H_
#define DX_TIMESTAMP_TESTING_LOCAL_AUTHORITY_H_

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace dx::timestamp::testing {

class LocalAuthority {
 public:
  // Makes the authority in `dir` (which exists); false if openssl failed.
  static bool Make(const std::string& dir, const std::string& cn) {
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    Write(dir + "/ext.cnf",
          "extendedKeyUsage=critical,timeStamping\n"
          "keyUsage=critical,digitalSignature\n");
    Write(dir + "/serial", "01\n");
    Write(dir + "/tsa.cnf", absl::StrCat(R"([ tsa ]
default_tsa = tsa1
[ tsa1 ]
dir = )",
                                         dir, R"(
serial = $dir/serial
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_alg = sha256
)"));
    return Run(absl::StrCat(
               "cd ", dir, " && openssl req -x509 ", ec,
               " -keyout ca.key -out ca.pem -days 2 -subj /CN=", cn,
               " -addext basicConstraints=critical,CA:TRUE"
               " -addext keyUsage=critical,keyCertSign,cRLSign")) &&
           Run(absl::StrCat(
               "cd ", dir, " && openssl req ", ec,
               " -keyout tsa.key -out tsa.csr -subj /CN=test-tsa && "
               "openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca.key "
               "-CAcreateserial -days 2 -extfile ext.cnf -out tsa.pem"));
  }

  // The DER reply of the authority in `dir` to the DER `request` (empty
  // if openssl failed).
  static std::string Reply(const std::string& dir, absl::string_view request) {
    Write(dir + "/q.der", request);
    if (!Run(absl::StrCat("openssl ts -reply -config ", dir,
                          "/tsa.cnf -queryfile ", dir, "/q.der -out ", dir,
                          "/r.der"))) {
      return "";
    }
    return Read(dir + "/r.der");
  }

  static bool Run(const std::string& cmd) {
    return std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) == 0;
  }
  static void Write(const std::string& path, absl::string_view data) {
    std::ofstream(path, std::ios::binary) << data;
  }
  static std::string Read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
};

}  // namespace dx::timestamp::testing

#endif  // DX_TIMESTAMP_TESTING_LOCAL_AUTHORITY_H_
