// TlsIdentity: the console's TLS certificate chain and key, replaceable
// while it serves. Each handshake takes the pair in force when it begins
// (OpenSSL's certificate callback), so the gateway's rotated certificate
// reaches the console as it reaches the gRPC port: without a restart, and
// without touching an SSL_CTX that other handshakes are reading.
#ifndef DX_CONSOLE_TLS_IDENTITY_H_
#define DX_CONSOLE_TLS_IDENTITY_H_

#include <openssl/types.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace dx::console {

class TlsIdentity {
 public:
  TlsIdentity();
  ~TlsIdentity();
  TlsIdentity(const TlsIdentity&) = delete;
  TlsIdentity& operator=(const TlsIdentity&) = delete;

  // A PEM chain (the leaf first) and the leaf's private key. Refused, and
  // the pair in force kept, when either does not parse or they do not
  // match; `source` names the files in the message.
  absl::Status Set(absl::string_view chain_pem, absl::string_view key_pem,
                   absl::string_view source);
  // Makes `ctx` present the pair in force at each handshake. This object
  // must outlive `ctx`'s handshakes.
  void InstallOn(SSL_CTX* ctx);
  // SHA-256 of the leaf in force, hex; empty before the first Set.
  std::string LeafSha256() const;

 private:
  struct Pair;
  static int OnHandshake(SSL* ssl, void* self);

  mutable absl::Mutex mu_;
  std::shared_ptr<const Pair> pair_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dx::console

#endif  // DX_CONSOLE_TLS_IDENTITY_H_
