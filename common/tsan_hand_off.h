// Orders that ThreadSanitizer cannot see, said out loud.
#ifndef DX_COMMON_TSAN_HAND_OFF_H_
#define DX_COMMON_TSAN_HAND_OFF_H_

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DX_TSAN_HAND_OFF 1
#include <sanitizer/tsan_interface.h>
#endif
#endif

namespace dx {

// A gRPC reactor hands its state to gRPC (StartWrite, StartRead, Finish,
// RemoveHold) and gets it back in a callback on another thread. The order
// is gRPC's contract, but it passes through Debian's uninstrumented gRPC,
// so TSan sees one thread write the reactor's messages and another read
// them with nothing between. TsanHandOff(key) before each hand-off and
// TsanTakeOver(key) at the start of each callback make that order visible;
// both are nothing outside the TSan build.
inline void TsanHandOff([[maybe_unused]] const void* key) {
#ifdef DX_TSAN_HAND_OFF
  __tsan_release(const_cast<void*>(key));
#endif
}

inline void TsanTakeOver([[maybe_unused]] const void* key) {
#ifdef DX_TSAN_HAND_OFF
  __tsan_acquire(const_cast<void*>(key));
#endif
}

}  // namespace dx

#endif  // DX_COMMON_TSAN_HAND_OFF_H_
