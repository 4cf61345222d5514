// Early-return helpers for absl::Status / absl::StatusOr (Debian's Abseil
// ships no status_macros.h).
#ifndef DX_COMMON_STATUS_MACROS_H_
#define DX_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define DX_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status dx_status_ = (expr);      \
    if (!dx_status_.ok()) return dx_status_; \
  } while (0)

#define DX_CONCAT_INNER_(a, b) a##b
#define DX_CONCAT_(a, b) DX_CONCAT_INNER_(a, b)

#define DX_ASSIGN_OR_RETURN(lhs, expr) \
  DX_ASSIGN_OR_RETURN_IMPL_(DX_CONCAT_(dx_statusor_, __LINE__), lhs, expr)

#define DX_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) return statusor.status();        \
  lhs = std::move(statusor).value()

#endif  // DX_COMMON_STATUS_MACROS_H_
