#include "timestamp/stamper.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "timestamp/rfc3161.h"

namespace dx::timestamp {
namespace {

std::string Sha256(absl::string_view data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  return std::string(reinterpret_cast<char*>(d), sizeof(d));
}

}  // namespace

TreeHeadStamper::TreeHeadStamper(
    Options options, Seams seams,
    std::optional<v1::TreeHeadTimestamp> last_stored)
    : options_(std::move(options)), seams_(std::move(seams)) {
  if (last_stored.has_value()) {
    stats_.last_tree_size = last_stored->tree_head().tree_size();
    stats_.last_time = absl::FromUnixMicros(last_stored->time_unix_micros());
    // At most one stamp per interval across restarts too.
    next_attempt_ = *stats_.last_time + options_.interval;
  }
}

absl::Status TreeHeadStamper::Tick() {
  const absl::Time now = seams_.clock->Now();
  if (now < next_attempt_) return absl::OkStatus();
  absl::StatusOr<v1::SignedTreeHead> head = seams_.latest_head();
  uint64_t last_size = 0;
  {
    absl::MutexLock lock(&mu_);
    last_size = stats_.last_tree_size;
  }
  if (head.ok() && (head->tree_size() == 0 || head->tree_size() == last_size)) {
    return absl::OkStatus();  // nothing new to stamp
  }
  absl::StatusOr<v1::TreeHeadTimestamp> stamp =
      head.ok() ? Stamp(*head) : head.status();
  absl::MutexLock lock(&mu_);
  if (head.ok() && !stats_.waiting_since.has_value()) {
    stats_.waiting_since = std::min(
        now, absl::FromUnixMillis(static_cast<int64_t>(head->timestamp_ms())));
  }
  if (!stamp.ok()) {
    ++stats_.failures;
    stats_.last_error = std::string(stamp.status().message());
    next_attempt_ = now + std::min(options_.interval, options_.retry);
    return stamp.status();
  }
  ++stats_.stamps;
  stats_.last_tree_size = stamp->tree_head().tree_size();
  stats_.last_time = absl::FromUnixMicros(stamp->time_unix_micros());
  stats_.waiting_since.reset();
  stats_.last_error.clear();
  next_attempt_ = now + options_.interval;
  return absl::OkStatus();
}

absl::StatusOr<v1::TreeHeadTimestamp> TreeHeadStamper::Stamp(
    const v1::SignedTreeHead& head) {
  if (head.signature().empty()) {
    return absl::FailedPreconditionError("the tree head has no signature");
  }
  const std::string digest = Sha256(head.signature());
  uint64_t nonce = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&nonce), sizeof(nonce)) !=
      1) {
    return absl::InternalError("no random nonce for the time-stamp request");
  }
  absl::StatusOr<std::string> request = MakeRequest(digest, nonce);
  if (!request.ok()) return request.status();
  absl::StatusOr<std::string> reply = seams_.post(*request);
  if (!reply.ok()) return reply.status();
  absl::StatusOr<Token> token =
      VerifyResponse(*reply, *request, options_.roots_pem);
  if (!token.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the authority's reply is refused: ", token.status().message()));
  }
  v1::TreeHeadTimestamp stamp;
  *stamp.mutable_tree_head() = head;
  stamp.set_token(token->der);
  stamp.set_time_unix_micros(absl::ToUnixMicros(token->time));
  if (absl::Status s = seams_.store(stamp); !s.ok()) return s;
  return stamp;
}

TreeHeadStamper::Stats TreeHeadStamper::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace dx::timestamp
