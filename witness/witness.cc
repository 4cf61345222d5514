#include "witness/witness.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "audit/merkle.h"
#include "common/status_macros.h"
#include "witness/checkpoint.h"

namespace dx::witness {
namespace {

AddCheckpointResponse Refuse(int status, std::string reason,
                             bool evidence = false) {
  AddCheckpointResponse r;
  r.http_status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = absl::StrCat(reason, "\n");
  r.reason = std::move(reason);
  r.evidence_of_misbehaviour = evidence;
  return r;
}

// Takes one '\n'-terminated line off the front of `*in`.
bool TakeLine(absl::string_view* in, absl::string_view* line) {
  const size_t nl = in->find('\n');
  if (nl == absl::string_view::npos) return false;
  *line = in->substr(0, nl);
  in->remove_prefix(nl + 1);
  return true;
}

bool ParseDecimal(absl::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) {
    return false;
  }
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(s, out);
}

}  // namespace

absl::StatusOr<AddCheckpointRequest> ParseAddCheckpointRequest(
    absl::string_view body) {
  // The proof (63 lines) and a checkpoint note, with room to spare.
  if (body.size() > kMaxNoteBytes + 8 * 1024) {
    return absl::InvalidArgumentError("the request body is too large");
  }
  AddCheckpointRequest out;
  absl::string_view line;
  if (!TakeLine(&body, &line) || !absl::ConsumePrefix(&line, "old ") ||
      !ParseDecimal(line, &out.old_size)) {
    return absl::InvalidArgumentError(
        "the request must start with 'old <size>' (decimal, no leading "
        "zeros) and a newline");
  }
  while (true) {
    if (!TakeLine(&body, &line)) {
      return absl::InvalidArgumentError(
          "the request has no blank line between the proof and the "
          "checkpoint");
    }
    if (line.empty()) break;
    if (out.proof.size() == kMaxProofLines) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the consistency proof has more than ", kMaxProofLines, " lines"));
    }
    auto hash = StrictBase64Decode(line);
    if (!hash.ok() || hash->size() != 32) {
      return absl::InvalidArgumentError(
          absl::StrCat("consistency proof line ", out.proof.size() + 1,
                       " is not the base64 of a 32-byte hash"));
    }
    out.proof.push_back(*std::move(hash));
  }
  out.checkpoint = std::string(body);
  return out;
}

std::string FormatAddCheckpointRequest(const AddCheckpointRequest& request) {
  std::string out = absl::StrCat("old ", request.old_size, "\n");
  for (const std::string& h : request.proof) {
    absl::StrAppend(&out, absl::Base64Escape(h), "\n");
  }
  absl::StrAppend(&out, "\n", request.checkpoint);
  return out;
}

Witness::Witness(std::unique_ptr<Cosigner> cosigner, std::vector<Log> logs,
                 const Clock* clock)
    : Witness(std::move(cosigner), std::move(logs), clock,
              std::make_unique<InMemoryWitnessStore>()) {}

absl::StatusOr<std::unique_ptr<Witness>> Witness::Open(
    std::unique_ptr<Cosigner> cosigner, std::vector<Log> logs,
    const Clock* clock, std::unique_ptr<WitnessStore> store) {
  DX_ASSIGN_OR_RETURN(WitnessedCheckpoints saved, store->LoadAll());
  std::unique_ptr<Witness> w(new Witness(std::move(cosigner), std::move(logs),
                                         clock, std::move(store)));
  absl::MutexLock lock(&w->mu_);
  w->latest_ = std::move(saved);
  return w;
}

Witness::Witness(std::unique_ptr<Cosigner> cosigner, std::vector<Log> logs,
                 const Clock* clock, std::unique_ptr<WitnessStore> store)
    : cosigner_(std::move(cosigner)), clock_(clock), store_(std::move(store)) {
  for (Log& log : logs) {
    KnownLog& known = logs_[log.origin];
    for (auto& key : log.keys) {
      known.key_views.push_back(key.get());
      known.keys.push_back(std::move(key));
    }
  }
}

AddCheckpointResponse Witness::AddCheckpoint(absl::string_view body) {
  auto request = ParseAddCheckpointRequest(body);
  if (!request.ok())
    return Refuse(400, std::string(request.status().message()));
  auto note = ParseNote(request->checkpoint);
  if (!note.ok()) {
    return Refuse(400, absl::StrCat("the checkpoint is not a signed note: ",
                                    note.status().message()));
  }
  auto checkpoint = ParseCheckpoint(note->text);
  if (!checkpoint.ok()) {
    return Refuse(400, std::string(checkpoint.status().message()));
  }
  return Verified(*request, *note, *checkpoint);
}

AddCheckpointResponse Witness::Verified(const AddCheckpointRequest& request,
                                        const Note& note,
                                        const Checkpoint& checkpoint) {
  const auto log = logs_.find(checkpoint.origin);
  if (log == logs_.end()) {
    return Refuse(404, absl::StrCat("this witness does not witness the log '",
                                    checkpoint.origin, "'"));
  }
  AddCheckpointResponse r = Checked(request, note, checkpoint, log->second);
  r.origin = checkpoint.origin;
  return r;
}

AddCheckpointResponse Witness::Checked(const AddCheckpointRequest& request,
                                       const Note& note,
                                       const Checkpoint& checkpoint,
                                       const KnownLog& log) {
  // The signature is checked before the lock: it is the costly part, and
  // it depends on nothing the lock guards.
  auto verified = VerifyNote(note, log.key_views);
  if (!verified.ok()) {
    return Refuse(403, absl::StrCat("the checkpoint of '", checkpoint.origin,
                                    "' is not signed by its log: ",
                                    verified.status().message()));
  }
  if (request.old_size > checkpoint.size) {
    return Refuse(
        400, absl::StrCat("old size ", request.old_size,
                          " is above the checkpoint's size ", checkpoint.size));
  }
  absl::MutexLock lock(&mu_);
  AddCheckpointResponse r = AddLocked(request, note, checkpoint);
  if (r.evidence_of_misbehaviour) {
    r.old_size = request.old_size;
    const auto it = latest_.find(checkpoint.origin);
    if (it != latest_.end()) r.cosigned = it->second;
    r.submitted = WitnessedCheckpoint{checkpoint.size, checkpoint.root_hash,
                                      request.checkpoint};
  }
  return r;
}

AddCheckpointResponse Witness::AddLocked(const AddCheckpointRequest& request,
                                         const Note& note,
                                         const Checkpoint& checkpoint) {
  const auto it = latest_.find(checkpoint.origin);
  const uint64_t latest_size = it == latest_.end() ? 0 : it->second.size;
  if (request.old_size != latest_size) {
    AddCheckpointResponse r =
        Refuse(409, absl::StrCat("old size ", request.old_size,
                                 " is not the size last cosigned for '",
                                 checkpoint.origin, "', ", latest_size));
    r.content_type = "text/x.tlog.size";
    r.body = absl::StrCat(latest_size, "\n");
    return r;
  }
  // The root the old size had, as this witness saw it (the empty tree's
  // for a log never cosigned: nothing is proven about it yet).
  const std::string old_root =
      it == latest_.end() ? audit::EmptyRoot() : it->second.root_hash;
  if (request.old_size == checkpoint.size) {
    if (it != latest_.end() && checkpoint.root_hash != old_root) {
      return Refuse(
          409,
          absl::StrCat("the log '", checkpoint.origin,
                       "' signed another root for size ", checkpoint.size,
                       " than the one cosigned: it was rewritten"),
          /*evidence=*/true);
    }
    if (it == latest_.end() && checkpoint.root_hash != audit::EmptyRoot()) {
      return Refuse(422, "a checkpoint of size 0 must have the empty root");
    }
    if (!request.proof.empty()) {
      return Refuse(422, "the proof between equal sizes must be empty");
    }
  } else if (request.old_size == 0) {
    if (!request.proof.empty()) {
      return Refuse(422, "the proof from size 0 must be empty");
    }
  } else if (!audit::VerifyConsistency(request.old_size, checkpoint.size,
                                       old_root, checkpoint.root_hash,
                                       request.proof)) {
    return Refuse(
        422,
        absl::StrCat("the consistency proof from size ", request.old_size,
                     " to ", checkpoint.size, " of '", checkpoint.origin,
                     "' does not verify: the log is not an extension of the "
                     "one cosigned"),
        /*evidence=*/true);
  }

  const uint64_t now = static_cast<uint64_t>(
      std::max<int64_t>(0, absl::ToUnixSeconds(clock_->Now())));
  auto cosig = cosigner_->Cosign(note.text, now);
  if (!cosig.ok()) {
    return Refuse(500, std::string(cosig.status().message()));
  }
  // Durable before the cosignature leaves (the spec's MUST): a witness
  // that lost this after answering would cosign a rewritten log later.
  WitnessedCheckpoint cosigned{checkpoint.size, checkpoint.root_hash,
                               request.checkpoint};
  const absl::Status saved = store_->Save(checkpoint.origin, cosigned);
  if (!saved.ok()) {
    return Refuse(500, absl::StrCat("the witness could not record the "
                                    "checkpoint, so it cosigns nothing: ",
                                    saved.message()));
  }
  latest_[checkpoint.origin] = std::move(cosigned);
  AddCheckpointResponse r;
  r.http_status = 200;
  r.content_type = "text/plain; charset=utf-8";
  r.body = FormatSignatureLine(*cosig);
  r.reason = absl::StrCat("cosigned '", checkpoint.origin, "' at size ",
                          checkpoint.size);
  return r;
}

absl::StatusOr<WitnessedCheckpoint> Witness::Latest(
    absl::string_view origin) const {
  absl::MutexLock lock(&mu_);
  const auto it = latest_.find(origin);
  if (it == latest_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no checkpoint of '", origin, "' was cosigned"));
  }
  return it->second;
}

}  // namespace dx::witness
