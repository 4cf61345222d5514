// RFC 3161 requests and checks with OpenSSL's TS API (rfc3161.h).
#include "timestamp/rfc3161.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace dx::timestamp {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
template <typename T, void (*F)(T*)>
using Ptr = std::unique_ptr<T, Deleter<T, F>>;

using ReqPtr = Ptr<TS_REQ, TS_REQ_free>;
using RespPtr = Ptr<TS_RESP, TS_RESP_free>;
using CtxPtr = Ptr<TS_VERIFY_CTX, TS_VERIFY_CTX_free>;
using Pkcs7Ptr = Ptr<PKCS7, PKCS7_free>;

// OpenSSL's reason for the last failure, and clears its queue.
std::string OpenSslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no detail from OpenSSL" : out;
}

absl::Status CheckDigest(absl::string_view d) {
  if (d.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("a SHA-256 digest is 32 bytes, not ", d.size()));
  }
  return absl::OkStatus();
}

// A store of the roots in `pem`; owned by the caller until handed to a
// TS_VERIFY_CTX (which frees it in OpenSSL 3.0).
absl::StatusOr<X509_STORE*> StoreOf(absl::string_view pem) {
  Ptr<BIO, BIO_free_all> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  X509_STORE* store = X509_STORE_new();
  int n = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++n;
  }
  ERR_clear_error();  // the end of the PEM stream reads as an error
  if (n == 0) {
    X509_STORE_free(store);
    return absl::InvalidArgumentError(
        "no certificate in the time-stamping authority's roots (PEM)");
  }
  return store;
}

// What a verified token says: its genTime, serial and policy.
absl::StatusOr<Token> Describe(PKCS7* token) {
  Token t;
  unsigned char* der = nullptr;
  const int len = i2d_PKCS7(token, &der);
  if (len <= 0) return absl::InternalError("cannot encode the token");
  t.der.assign(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  Ptr<TS_TST_INFO, TS_TST_INFO_free> info(PKCS7_to_TS_TST_INFO(token));
  if (!info) {
    return absl::FailedPreconditionError(
        absl::StrCat("the token holds no TSTInfo: ", OpenSslError()));
  }
  struct tm tm = {};
  if (ASN1_TIME_to_tm(TS_TST_INFO_get_time(info.get()), &tm) != 1) {
    return absl::FailedPreconditionError("the token's genTime does not parse");
  }
  t.time = absl::FromTM(tm, absl::UTCTimeZone());
  if (const ASN1_INTEGER* serial = TS_TST_INFO_get_serial(info.get())) {
    Ptr<BIGNUM, BN_free> bn(ASN1_INTEGER_to_BN(serial, nullptr));
    if (bn) {
      char* hex = BN_bn2hex(bn.get());
      t.serial_hex = hex;
      OPENSSL_free(hex);
    }
  }
  if (const ASN1_OBJECT* policy = TS_TST_INFO_get_policy_id(info.get())) {
    char buf[128];
    if (OBJ_obj2txt(buf, sizeof(buf), policy, 1) > 0) t.policy_oid = buf;
  }
  return t;
}

}  // namespace

absl::StatusOr<std::string> MakeRequest(absl::string_view sha256_digest,
                                        uint64_t nonce) {
  if (absl::Status s = CheckDigest(sha256_digest); !s.ok()) return s;
  ReqPtr req(TS_REQ_new());
  Ptr<TS_MSG_IMPRINT, TS_MSG_IMPRINT_free> imprint(TS_MSG_IMPRINT_new());
  Ptr<X509_ALGOR, X509_ALGOR_free> alg(X509_ALGOR_new());
  Ptr<ASN1_INTEGER, ASN1_INTEGER_free> n(ASN1_INTEGER_new());
  if (!req || !imprint || !alg || !n ||
      !X509_ALGOR_set0(alg.get(), OBJ_nid2obj(NID_sha256), V_ASN1_NULL,
                       nullptr) ||
      !TS_MSG_IMPRINT_set_algo(imprint.get(), alg.get()) ||
      !TS_MSG_IMPRINT_set_msg(imprint.get(),
                              reinterpret_cast<unsigned char*>(
                                  const_cast<char*>(sha256_digest.data())),
                              static_cast<int>(sha256_digest.size())) ||
      !TS_REQ_set_version(req.get(), 1) ||
      !TS_REQ_set_msg_imprint(req.get(), imprint.get()) ||
      !ASN1_INTEGER_set_uint64(n.get(), nonce) ||
      !TS_REQ_set_nonce(req.get(), n.get()) ||
      !TS_REQ_set_cert_req(req.get(), 1)) {
    return absl::InternalError(
        absl::StrCat("cannot build a TimeStampReq: ", OpenSslError()));
  }
  unsigned char* der = nullptr;
  const int len = i2d_TS_REQ(req.get(), &der);
  if (len <= 0) {
    return absl::InternalError(
        absl::StrCat("cannot encode the TimeStampReq: ", OpenSslError()));
  }
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<Token> VerifyResponse(absl::string_view response_der,
                                     absl::string_view request_der,
                                     absl::string_view roots_pem) {
  const auto* p = reinterpret_cast<const unsigned char*>(response_der.data());
  RespPtr resp(
      d2i_TS_RESP(nullptr, &p, static_cast<long>(response_der.size())));
  if (!resp || p != reinterpret_cast<const unsigned char*>(
                        response_der.data() + response_der.size())) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "the authority's answer is not a DER TimeStampResp (RFC 3161 2.4.2)");
  }
  p = reinterpret_cast<const unsigned char*>(request_der.data());
  ReqPtr req(d2i_TS_REQ(nullptr, &p, static_cast<long>(request_der.size())));
  if (!req) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the request is not a DER TimeStampReq");
  }
  const ASN1_INTEGER* status =
      TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp.get()));
  const long granted = ASN1_INTEGER_get(status);
  if (granted != 0 && granted != 1) {  // granted, grantedWithMods
    return absl::FailedPreconditionError(absl::StrCat(
        "the time-stamping authority refused the request (PKIStatus ", granted,
        ")"));
  }
  auto store = StoreOf(roots_pem);
  if (!store.ok()) return store.status();
  CtxPtr ctx(TS_REQ_to_TS_VERIFY_CTX(req.get(), nullptr));
  if (!ctx) {
    X509_STORE_free(*store);
    return absl::InternalError(OpenSslError());
  }
  TS_VERIFY_CTX_set_store(ctx.get(), *store);  // the context owns it
  TS_VERIFY_CTX_add_flags(ctx.get(), TS_VFY_SIGNATURE);
  if (TS_RESP_verify_response(ctx.get(), resp.get()) != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("the time-stamp does not verify: ", OpenSslError()));
  }
  return Describe(TS_RESP_get_token(resp.get()));
}

absl::StatusOr<Token> VerifyToken(absl::string_view token_der,
                                  absl::string_view sha256_digest,
                                  absl::string_view roots_pem) {
  if (absl::Status s = CheckDigest(sha256_digest); !s.ok()) return s;
  const auto* p = reinterpret_cast<const unsigned char*>(token_der.data());
  Pkcs7Ptr token(d2i_PKCS7(nullptr, &p, static_cast<long>(token_der.size())));
  if (!token) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "the token is not a DER TimeStampToken (CMS SignedData)");
  }
  auto store = StoreOf(roots_pem);
  if (!store.ok()) return store.status();
  CtxPtr ctx(TS_VERIFY_CTX_new());
  TS_VERIFY_CTX_set_store(ctx.get(), *store);  // the context owns it
  auto* imprint = static_cast<unsigned char*>(OPENSSL_malloc(32));
  std::copy(sha256_digest.begin(), sha256_digest.end(), imprint);
  TS_VERIFY_CTX_set_imprint(ctx.get(), imprint, 32);  // and this
  TS_VERIFY_CTX_set_flags(ctx.get(),
                          TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_IMPRINT);
  if (TS_RESP_verify_token(ctx.get(), token.get()) != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("the time-stamp token does not verify: ", OpenSslError()));
  }
  // OpenSSL compares the imprint's bytes only: the algorithm must be the
  // one those bytes are a digest of.
  Ptr<TS_TST_INFO, TS_TST_INFO_free> info(PKCS7_to_TS_TST_INFO(token.get()));
  const ASN1_OBJECT* algorithm = nullptr;
  if (info) {
    X509_ALGOR_get0(
        &algorithm, nullptr, nullptr,
        TS_MSG_IMPRINT_get_algo(TS_TST_INFO_get_msg_imprint(info.get())));
  }
  if (algorithm == nullptr || OBJ_obj2nid(algorithm) != NID_sha256) {
    return absl::FailedPreconditionError(
        "the time-stamp token's imprint is not a SHA-256 digest");
  }
  return Describe(token.get());
}

}  // namespace dx::timestamp
