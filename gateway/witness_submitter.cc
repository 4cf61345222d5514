#include "gateway/witness_submitter.h"

#include <curl/curl.h>
#include <rocksdb/db.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "audit/audit_reader.h"
#include "audit/state_db.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "witness/checkpoint.h"
#include "witness/cosignature.h"
#include "witness/keys.h"
#include "witness/note.h"
#include "witness/witness.h"

namespace dx::gateway {
namespace {

constexpr char kPrefix[] = "witness/cosigned/";

void Log(const std::string& level, const std::string& line) {
  LogEvent("dxgate", level, absl::StrCat("witness submit: ", line));
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  // A witness answers a few lines; more is not a witness.
  if (body->size() + size * n > 64 * 1024) return 0;
  body->append(data, size * n);
  return size * n;
}

size_t Header(char* data, size_t size, size_t n, void* out) {
  absl::string_view line(data, size * n);
  constexpr absl::string_view kName = "content-type:";
  if (absl::StartsWithIgnoreCase(line, kName)) {
    *static_cast<std::string*>(out) =
        std::string(absl::StripAsciiWhitespace(line.substr(kName.size())));
  }
  return size * n;
}

}  // namespace

struct WitnessSubmitter::Peer {
  v1::WitnessPeer config;
  std::unique_ptr<witness::CosignatureVerifier> verifier;
  uint64_t held = 0;      // the size the peer holds, as far as known
  uint64_t cosigned = 0;  // the size it cosigned for us last (0: none yet)
};

WitnessSubmitter::WitnessSubmitter(Deps deps) : deps_(std::move(deps)) {}
WitnessSubmitter::~WitnessSubmitter() = default;

absl::Status WitnessSubmitter::CheckPeers(const v1::WitnessConfig& config) {
  for (int i = 0; i < config.peers_size(); ++i) {
    auto v =
        witness::CosignatureVerifier::FromVerifierKey(config.peers(i).vkey());
    if (!v.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "witness.peers[", i, "].vkey is not a witness's Ed25519 verifier ",
          "key (<name>+<key id>+<base64(0x04 || key)>, as its start logs "
          "it): ",
          v.status().message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WitnessSubmitter>> WitnessSubmitter::Create(
    Deps deps) {
  DX_RETURN_IF_ERROR(CheckPeers(deps.config));
  std::unique_ptr<WitnessSubmitter> s(new WitnessSubmitter(std::move(deps)));
  DX_ASSIGN_OR_RETURN(
      s->signer_, witness::EcdsaNoteSigner::Create(s->deps_.config.log_origin(),
                                                   s->deps_.log_signer));
  for (int i = 0; i < s->deps_.config.peers_size(); ++i) {
    const v1::WitnessPeer& p = s->deps_.config.peers(i);
    auto v = witness::CosignatureVerifier::FromVerifierKey(p.vkey());
    if (!v.ok()) return v.status();
    Peer peer;
    peer.config = p;
    peer.verifier = *std::move(v);
    s->peers_.push_back(std::move(peer));
  }
  return s;
}

void WitnessSubmitter::Tick() {
  auto sth = deps_.reader->TreeHead(0);
  if (!sth.ok()) return;  // no tree head yet
  auto checkpoint = witness::CheckpointFromTreeHead(*sth, signer_->name());
  if (!checkpoint.ok()) {
    Log("error", std::string(checkpoint.status().message()));
    return;
  }
  auto note = witness::SignCheckpoint(*checkpoint, *signer_);
  if (!note.ok()) {
    Log("error", std::string(note.status().message()));
    return;
  }
  const std::string text = witness::FormatCheckpoint(*checkpoint);
  for (Peer& peer : peers_) {
    if (peer.cosigned == checkpoint->size) continue;
    absl::Status s = Submit(peer, checkpoint->size, text, *note);
    if (!s.ok()) {
      Log("warning", absl::StrCat(peer.config.url(), ": size ",
                                  checkpoint->size, ": ", s.message()));
    }
  }
}

absl::Status WitnessSubmitter::Submit(Peer& peer, uint64_t size,
                                      const std::string& text,
                                      const std::string& note) {
  // Twice at most: the second time from the size a 409 named.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (peer.held > size) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the witness holds size ", peer.held, ", above this log's ", size,
          ": this log lost records it had shown (restore the data dir)"));
    }
    witness::AddCheckpointRequest request;
    request.old_size = peer.held;
    request.checkpoint = note;
    if (peer.held != 0 && peer.held != size) {
      DX_ASSIGN_OR_RETURN(v1::ConsistencyProof proof,
                          deps_.reader->Consistency(peer.held, size));
      request.proof.assign(proof.path().begin(), proof.path().end());
    }
    DX_ASSIGN_OR_RETURN(
        Answer answer,
        deps_.post(peer.config, witness::FormatAddCheckpointRequest(request)));
    if (answer.status == 409 && answer.content_type == "text/x.tlog.size") {
      uint64_t held = 0;
      if (!absl::SimpleAtoi(absl::StripSuffix(answer.body, "\n"), &held)) {
        return absl::UnavailableError("a 409 whose body is not a size");
      }
      peer.held = held;
      continue;
    }
    if (answer.status != 200) {
      return absl::UnavailableError(
          absl::StrCat("HTTP ", answer.status, ": ",
                       absl::StripSuffix(answer.body.substr(0, 512), "\n")));
    }
    auto cosigned = witness::ParseNote(note + answer.body);
    if (!cosigned.ok()) {
      return absl::UnavailableError(
          absl::StrCat("the answer is not cosignature lines: ",
                       cosigned.status().message()));
    }
    auto verified = witness::VerifyNote(*cosigned, {peer.verifier.get()});
    if (!verified.ok() || cosigned->text != text) {
      return absl::PermissionDeniedError(
          absl::StrCat("no cosignature from ", peer.verifier->name(),
                       " verifies: ", verified.status().message()));
    }
    rocksdb::Status put = deps_.db->db()->Put(
        rocksdb::WriteOptions(), deps_.db->cf(audit::Cf::kMeta),
        absl::StrCat(kPrefix, peer.verifier->name()),
        witness::FormatNote(*cosigned));
    if (!put.ok()) return absl::UnavailableError(put.ToString());
    peer.held = peer.cosigned = size;
    Log("info", absl::StrCat(peer.verifier->name(), " cosigned size ", size));
    return absl::OkStatus();
  }
  return absl::UnavailableError(
      absl::StrCat("the witness still holds another size (", peer.held, ")"));
}

absl::StatusOr<std::string> WitnessSubmitter::Cosigned(
    const std::string& name) const {
  std::string out;
  rocksdb::Status s = deps_.db->db()->Get(rocksdb::ReadOptions(),
                                          deps_.db->cf(audit::Cf::kMeta),
                                          absl::StrCat(kPrefix, name), &out);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("nothing cosigned by ", name));
  }
  if (!s.ok()) return absl::UnavailableError(s.ToString());
  return out;
}

WitnessSubmitter::Post WitnessSubmitter::HttpsPost(int timeout_seconds) {
  // Here, before the duty's thread posts: libcurl's global set-up is not
  // thread-safe (and is idempotent).
  static const bool curl_ready = [] {
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  }();
  (void)curl_ready;
  return [timeout_seconds](const v1::WitnessPeer& peer,
                           const std::string& body) -> absl::StatusOr<Answer> {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
    char error[CURL_ERROR_SIZE] = {0};
    const std::string url = absl::StrCat(peer.url(), "/add-checkpoint");
    Answer answer;
    curl_slist* headers =
        curl_slist_append(nullptr, "Content-Type: text/plain");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(timeout_seconds));
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer.content_type);
    if (!peer.ca_file().empty()) {
      curl_easy_setopt(curl, CURLOPT_CAINFO, peer.ca_file().c_str());
    }
    const CURLcode rc = curl_easy_perform(curl);
    long http = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
      return absl::UnavailableError(absl::StrCat(
          url, ": ", curl_easy_strerror(rc), error[0] ? ": " : "", error));
    }
    answer.status = static_cast<int>(http);
    return answer;
  };
}

}  // namespace dx::gateway
