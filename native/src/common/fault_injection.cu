#include "fault_injection.h"

#include <atomic>
#include "cuda_check.h"

namespace b12x {
namespace {

// Above the 1,024 threads per block every CUDA architecture allows, so the runtime refuses the launch before anything
// runs, with a non-sticky error (CUDA 13.0 reports cudaErrorInvalidValue).
constexpr unsigned kInvalidBlockThreads = 4096;

std::atomic<int32_t> s_armed_fault{B12X_FAULT_NONE};

// The target is a kernel argument (NULL at run time), so the compiler cannot see the invalid store and the GPU's
// memory unit reports it as an illegal address.
__global__ void fault_kernel(int32_t* target) { *target = 1; }

}  // namespace

b12x_status_t arm_fault(int32_t fault, char* message, size_t message_capacity) {
  switch (fault) {
    case B12X_FAULT_NONE:
    case B12X_FAULT_LAUNCH_CONFIGURATION:
    case B12X_FAULT_ILLEGAL_ADDRESS:
      s_armed_fault.store(fault);
      return B12X_STATUS_SUCCESS;
    default:
      write_message(message, message_capacity,
                    "fault must be B12X_FAULT_NONE (0), B12X_FAULT_LAUNCH_CONFIGURATION (1) or "
                    "B12X_FAULT_ILLEGAL_ADDRESS (2), got %d",
                    fault);
      return B12X_STATUS_INVALID_ARGUMENT;
  }
}

b12x_status_t inject_armed_fault(cudaStream_t stream, char* message, size_t message_capacity) {
  const int32_t fault = s_armed_fault.exchange(B12X_FAULT_NONE);
  if (fault == B12X_FAULT_NONE) return B12X_STATUS_SUCCESS;
  const unsigned threads = fault == B12X_FAULT_LAUNCH_CONFIGURATION ? kInvalidBlockThreads : 1;
  fault_kernel<<<1, threads, 0, stream>>>(nullptr);
  B12X_CUDA_TRY(cudaGetLastError(), "injected fault launch");
  return B12X_STATUS_SUCCESS;
}

}  // namespace b12x
