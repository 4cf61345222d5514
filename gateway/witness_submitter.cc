#include "gateway/witness_submitter.h"

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
#include "gateway/https_post.h"
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
      // From the size the witness holds, whether or not this log signed a
      // tree head there (a log whose data dir was replaced did not): the
      // witness checks the path against the root it cosigned.
      DX_ASSIGN_OR_RETURN(request.proof,
                          deps_.reader->ConsistencyPath(peer.held, size));
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
  InitHttpsPost();  // before the duty's thread posts
  return [timeout_seconds](const v1::WitnessPeer& peer,
                           const std::string& body) -> absl::StatusOr<Answer> {
    HttpsPostRequest r;
    r.url = absl::StrCat(peer.url(), "/add-checkpoint");
    r.content_type = "text/plain";
    r.body = body;
    r.ca_file = peer.ca_file();
    r.timeout_seconds = timeout_seconds;
    r.max_answer_bytes = 64 * 1024;  // a witness answers a few lines
    DX_ASSIGN_OR_RETURN(HttpsPostAnswer got, HttpsPostOnce(r));
    Answer answer;
    answer.status = static_cast<int>(got.status);
    answer.body = std::move(got.body);
    answer.content_type = std::move(got.content_type);
    return answer;
  };
}

}  // namespace dx::gateway
