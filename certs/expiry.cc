#include "certs/expiry.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>

#include "absl/strings/str_cat.h"
#include "certs/crypto.h"
#include "certs/identity.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace dx::certs {
namespace {

absl::Time ToTime(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

std::string NameOf(const X509_NAME* name) {
  char buf[256];
  X509_NAME_oneline(name, buf, sizeof(buf));
  return buf;
}

}  // namespace

absl::StatusOr<std::vector<Expiry>> CertificateExpiries(
    const std::string& pem_file, const std::string& what) {
  DX_ASSIGN_OR_RETURN(std::string pem, ReadFile(pem_file));
  DX_ASSIGN_OR_RETURN(std::vector<std::string> ders, PemBundleToDer(pem));
  std::vector<Expiry> out;
  for (const std::string& der : ders) {
    DX_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificateDer(der));
    auto principal = PrincipalOf(cert.get());
    out.push_back({what,
                   principal.ok() ? ActorName(*principal)
                                  : NameOf(X509_get_subject_name(cert.get())),
                   ToTime(X509_get0_notAfter(cert.get()))});
  }
  return out;
}

absl::StatusOr<std::vector<Expiry>> CrlNextUpdates(
    const std::string& pem_file) {
  DX_ASSIGN_OR_RETURN(std::string pem, ReadFile(pem_file));
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  std::vector<Expiry> out;
  while (X509_CRL* crl =
             PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr)) {
    out.push_back({"CRL", NameOf(X509_CRL_get_issuer(crl)),
                   ToTime(X509_CRL_get0_nextUpdate(crl))});
    X509_CRL_free(crl);
  }
  BIO_free(bio);
  ERR_clear_error();  // the read past the last one
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(pem_file, " holds no PEM CRL"));
  }
  return out;
}

}  // namespace dx::certs
