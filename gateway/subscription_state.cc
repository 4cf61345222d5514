#include "gateway/subscription_state.h"

#include <rocksdb/db.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "audit/state_db.h"

namespace dx::gateway {
namespace {

constexpr char kPrefix[] = "subscription/";

std::string KeyOf(const std::string& id) { return absl::StrCat(kPrefix, id); }

}  // namespace

absl::StatusOr<absl::optional<v1::SubscriptionState>>
RocksDbSubscriptionStates::Load(const std::string& id) const {
  std::string bytes;
  rocksdb::Status s = db_->db()->Get(
      rocksdb::ReadOptions(), db_->cf(audit::Cf::kMeta), KeyOf(id), &bytes);
  if (s.IsNotFound()) return absl::optional<v1::SubscriptionState>();
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("reading subscription ", id, ": ", s.ToString()));
  }
  v1::SubscriptionState state;
  if (!state.ParseFromString(bytes)) {
    return absl::DataLossError(
        absl::StrCat("the stored state of subscription ", id,
                     " does not parse; the state database is damaged"));
  }
  return absl::optional<v1::SubscriptionState>(std::move(state));
}

absl::Status RocksDbSubscriptionStates::Save(
    const v1::SubscriptionState& state) {
  rocksdb::WriteOptions synced;
  synced.sync = true;  // an ack is only as good as its state on disk
  rocksdb::Status s =
      db_->db()->Put(synced, db_->cf(audit::Cf::kMeta),
                     KeyOf(state.subscription_id()), state.SerializeAsString());
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "saving subscription ", state.subscription_id(), ": ", s.ToString()));
  }
  return absl::OkStatus();
}

absl::Status RocksDbSubscriptionStates::Delete(const std::string& id) {
  rocksdb::WriteOptions synced;
  synced.sync = true;  // an answered unsubscribe stays done after a crash
  rocksdb::Status s =
      db_->db()->Delete(synced, db_->cf(audit::Cf::kMeta), KeyOf(id));
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("deleting subscription ", id, ": ", s.ToString()));
  }
  return absl::OkStatus();
}

absl::Status RocksDbSubscriptionStates::ForEach(
    const std::function<bool(const v1::SubscriptionState&)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(
      rocksdb::ReadOptions(), db_->cf(audit::Cf::kMeta)));
  const rocksdb::Slice prefix(kPrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    v1::SubscriptionState state;
    if (!state.ParseFromArray(it->value().data(),
                              static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat("the stored state under ", it->key().ToString(),
                       " does not parse; the state database is damaged"));
    }
    if (!visit(state)) return absl::OkStatus();
  }
  if (!it->status().ok()) {
    return absl::UnavailableError(
        absl::StrCat("listing subscriptions: ", it->status().ToString()));
  }
  return absl::OkStatus();
}

}  // namespace dx::gateway
