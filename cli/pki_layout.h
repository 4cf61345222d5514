// PkiLayout: where dxctl finds certificates and keys under --pki DIR, the
// layout certs/make-dev-pki.sh writes (certs/README.md); an operator's own
// PKI folder may follow it too. One place for every command.
#ifndef DX_CLI_PKI_LAYOUT_H_
#define DX_CLI_PKI_LAYOUT_H_

#include <string>

namespace dx::cli {

struct PkiLayout {
  std::string dir;

  std::string root_ca() const { return dir + "/root-ca.pem"; }
  std::string intermediates() const { return dir + "/intermediate-ca.pem"; }
  std::string crl() const { return dir + "/crl.pem"; }
  // Folders holding tls.pem/tls.key (and, for agencies, sign.pem/sign.key).
  std::string agency(const std::string& code) const {
    return dir + "/agencies/" + code;
  }
  std::string person(const std::string& name) const {
    return dir + "/people/" + name;
  }
  std::string gateway() const { return dir + "/gateway"; }
};

}  // namespace dx::cli

#endif  // DX_CLI_PKI_LAYOUT_H_
