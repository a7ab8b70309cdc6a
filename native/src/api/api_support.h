// Shared plumbing of the exported functions: exception guard, device checks and scope, event timing.
#pragma once
#include <cuda_runtime.h>
#include <algorithm>
#include <exception>
#include <new>
#include <vector>

#include "../common/cuda_check.h"
#include "../dispatch/moe_launcher.h"
#include "b12x/b12x.h"
#include "problem_validation.h"

namespace b12x {

// Runs on the problem's device and restores the caller's current device afterwards.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    cudaGetDevice(&previous_);
    if (previous_ != device) status_ = cudaSetDevice(device);
  }
  ~DeviceScope() {
    int current = previous_;
    cudaGetDevice(&current);
    if (current != previous_) cudaSetDevice(previous_);
  }
  cudaError_t status() const { return status_; }

 private:
  int previous_ = 0;
  cudaError_t status_ = cudaSuccess;
};

// Guards a whole export: no C++ exception crosses the C boundary.
template <typename F>
b12x_status_t guarded(char* message, size_t message_capacity, F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    write_message(message, message_capacity, "host memory exhausted");
    return B12X_STATUS_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    write_message(message, message_capacity, "internal error: %s", e.what());
    return B12X_STATUS_INTERNAL;
  } catch (...) {
    write_message(message, message_capacity, "internal error");
    return B12X_STATUS_INTERNAL;
  }
}

inline b12x_status_t check_device(int32_t device, char* message, size_t message_capacity) {
  int count = 0;
  B12X_CUDA_TRY(cudaGetDeviceCount(&count), "CUDA device count query");
  if (device < 0 || device >= count) {
    write_message(message, message_capacity, "device %d does not exist (%d CUDA devices)", device, count);
    return B12X_STATUS_INVALID_ARGUMENT;
  }
  int major = 0;
  B12X_CUDA_TRY(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "compute capability query");
  if (major < 8) {
    write_message(message, message_capacity,
                        "device %d has compute capability %d.x; the kernels need 8.0 (Ampere) or newer", device, major);
    return B12X_STATUS_UNSUPPORTED;
  }
  return B12X_STATUS_SUCCESS;
}

// The checks every call that runs a problem makes before touching the device: the problem itself, a large enough
// and aligned workspace (when there is work), and a usable device.
inline b12x_status_t check_problem_call(const b12x_moe_problem_t* problem, const void* workspace, size_t workspace_bytes,
                                        char* message, size_t message_capacity) {
  b12x_status_t status = validate_problem(problem, message, message_capacity);
  if (status != B12X_STATUS_SUCCESS || problem->num_tokens == 0) return status;
  const size_t needed = workspace_for(*problem).total;
  if (workspace == nullptr || workspace_bytes < needed) {
    write_message(message, message_capacity, "workspace of %zu bytes given; this problem needs %zu",
                  workspace == nullptr ? 0 : workspace_bytes, needed);
    return B12X_STATUS_WORKSPACE_TOO_SMALL;
  }
  if ((reinterpret_cast<uintptr_t>(workspace) % kWorkspaceAlignment) != 0) {
    write_message(message, message_capacity, "workspace must be %zu-byte aligned", kWorkspaceAlignment);
    return B12X_STATUS_INVALID_ARGUMENT;
  }
  status = check_device(problem->device, message, message_capacity);
  if (status != B12X_STATUS_SUCCESS) return status;
  return check_kernel_limits(*problem, resolve_strategy(*problem), message, message_capacity);
}

// Times `iterations` launches of `launch` on the stream with CUDA events, each after a write of the flush buffer.
template <typename Launch>
b12x_status_t median_time(Launch&& launch, void* flush, size_t flush_bytes, int32_t iterations, cudaStream_t stream,
                          float* median_us, char* message, size_t message_capacity) {
  cudaEvent_t start = nullptr, stop = nullptr;
  B12X_CUDA_TRY(cudaEventCreate(&start), "event creation");
  cudaError_t e = cudaEventCreate(&stop);
  b12x_status_t status = B12X_STATUS_SUCCESS;
  std::vector<float> times;
  for (int32_t i = 0; e == cudaSuccess && i < iterations; ++i) {
    if (flush_bytes > 0 && (e = cudaMemsetAsync(flush, i & 0xFF, flush_bytes, stream)) != cudaSuccess) break;
    if ((e = cudaEventRecord(start, stream)) != cudaSuccess) break;
    if ((status = launch()) != B12X_STATUS_SUCCESS) break;
    if ((e = cudaEventRecord(stop, stream)) != cudaSuccess || (e = cudaEventSynchronize(stop)) != cudaSuccess) break;
    float ms = 0.0f;
    if ((e = cudaEventElapsedTime(&ms, start, stop)) != cudaSuccess) break;
    times.push_back(ms * 1000.0f);
  }
  cudaEventDestroy(start);
  if (stop != nullptr) cudaEventDestroy(stop);
  if (status != B12X_STATUS_SUCCESS) return status;
  B12X_CUDA_TRY(e, "timed run");
  std::sort(times.begin(), times.end());
  *median_us = times[times.size() / 2];
  return B12X_STATUS_SUCCESS;
}

}  // namespace b12x
