// WatchHandle: the one way a subscription is held in dxgate (a policy
// store's watch, a registry source's listener). The subscription lasts as
// long as the handle; there is no id to hand back and no Unsubscribe to
// forget.
//
// The contract every seam that hands one out keeps:
//  - Once the destructor returns, no callback of the subscription runs,
//    and none is still running on another thread (the destructor waits for
//    it): what the callback uses may be destroyed right after the handle.
//  - The handle outlives nothing: destroy it before the store or source
//    that made it (declare it after the pointer to them). RegistrySource's
//    handles are also safe to drop after their source is gone; a
//    PolicyStore's are not.
//  - Whether the handle may be destroyed from inside one of its own
//    callbacks, each seam says: RegistrySource's listeners may (the call in
//    progress finishes, and no other follows); a PolicyStore's watchers may
//    not (the destructor would wait for the very callback it runs in).
#ifndef DX_COMMON_WATCH_HANDLE_H_
#define DX_COMMON_WATCH_HANDLE_H_

namespace dx {

class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
  WatchHandle(const WatchHandle&) = delete;
  WatchHandle& operator=(const WatchHandle&) = delete;

 protected:
  WatchHandle() = default;
};

}  // namespace dx

#endif  // DX_COMMON_WATCH_HANDLE_H_
