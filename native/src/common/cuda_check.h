// Turning CUDA errors into b12x statuses with a message, without exceptions.
#pragma once
#include <cuda_runtime.h>
#include <cstdio>
#include "b12x/b12x.h"

namespace b12x {

// Errors after which the context is unusable for the rest of the process (CUDA runtime API documentation, "sticky"
// errors): reported as B12X_STATUS_CUDA_CONTEXT_LOST so callers can say "restart the process".
inline bool is_sticky(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorLaunchTimeout:
      return true;
    default:
      return false;
  }
}

inline b12x_status_t status_of(cudaError_t e) {
  if (e == cudaSuccess) return B12X_STATUS_SUCCESS;
  if (e == cudaErrorMemoryAllocation) return B12X_STATUS_OUT_OF_MEMORY;
  return is_sticky(e) ? B12X_STATUS_CUDA_CONTEXT_LOST : B12X_STATUS_CUDA_ERROR;
}

// Writes a formatted message into the caller's buffer (truncating, NUL-terminated).
template <typename... Args>
inline void write_message(char* buffer, size_t capacity, const char* format, Args... args) {
  if (buffer == nullptr || capacity == 0) return;
  if constexpr (sizeof...(Args) == 0) {
    std::snprintf(buffer, capacity, "%s", format);
  } else {
    std::snprintf(buffer, capacity, format, args...);
  }
}

}  // namespace b12x

// Inside a function returning b12x_status_t with (message, message_capacity) in scope.
#define B12X_CUDA_TRY(call, what)                                                                           \
  do {                                                                                                      \
    cudaError_t b12x_err_ = (call);                                                                         \
    if (b12x_err_ != cudaSuccess) {                                                                         \
      ::b12x::write_message(message, message_capacity, "%s failed: %s (%s)", what,                          \
                            cudaGetErrorString(b12x_err_), cudaGetErrorName(b12x_err_));                    \
      return ::b12x::status_of(b12x_err_);                                                                  \
    }                                                                                                       \
  } while (0)
