// SubscriptionServiceTestPeer: lets a unit test put the service in a state
// that otherwise takes a whole stream (a consumer, an adapter feed, the
// policy): a subscription being served. For tests only; the service names
// it a friend.
#ifndef DX_GATEWAY_INTERNAL_SUBSCRIPTION_SERVICE_PEER_H_
#define DX_GATEWAY_INTERNAL_SUBSCRIPTION_SERVICE_PEER_H_

#include <string>

#include "absl/status/status.h"

namespace dx::gateway {

class SubscriptionService;

class SubscriptionServiceTestPeer {
 public:
  // Marks the stored subscription `id` as served by a stream, as Open
  // does (without saving anything), until the service goes.
  static absl::Status MarkServed(SubscriptionService* service,
                                 const std::string& id);
  // Ends what MarkServed began as a stream's end does (Close: its record,
  // its time of activity saved, no longer served).
  static absl::Status EndServed(SubscriptionService* service,
                                const std::string& id);
};

}  // namespace dx::gateway

#endif  // DX_GATEWAY_INTERNAL_SUBSCRIPTION_SERVICE_PEER_H_
