// The exported C functions: validate, resolve, dispatch, and map every failure to a status and a message.
#include <cuda_runtime.h>

#include "../common/cuda_check.h"
#include "../common/fault_injection.h"
#include "../dispatch/moe_launcher.h"
#include "b12x/b12x.h"
#include "api_support.h"

namespace {

constexpr int32_t kVersion = 1 * 10000 + 0 * 100 + 0;  // 1.0.0

}  // namespace

extern "C" {

B12X_API int32_t b12x_version_get(void) { return kVersion; }

B12X_API int32_t b12x_abi_version_get(void) { return B12X_ABI_VERSION; }

B12X_API const char* b12x_status_name_get(b12x_status_t status) {
  switch (status) {
    case B12X_STATUS_SUCCESS: return "B12X_STATUS_SUCCESS";
    case B12X_STATUS_INVALID_ARGUMENT: return "B12X_STATUS_INVALID_ARGUMENT";
    case B12X_STATUS_UNSUPPORTED: return "B12X_STATUS_UNSUPPORTED";
    case B12X_STATUS_WORKSPACE_TOO_SMALL: return "B12X_STATUS_WORKSPACE_TOO_SMALL";
    case B12X_STATUS_CUDA_ERROR: return "B12X_STATUS_CUDA_ERROR";
    case B12X_STATUS_CUDA_CONTEXT_LOST: return "B12X_STATUS_CUDA_CONTEXT_LOST";
    case B12X_STATUS_OUT_OF_MEMORY: return "B12X_STATUS_OUT_OF_MEMORY";
    case B12X_STATUS_INTERNAL: return "B12X_STATUS_INTERNAL";
    default: return "B12X_STATUS_UNKNOWN";
  }
}

B12X_API b12x_status_t b12x_device_query(int32_t device, int32_t* compute_capability, int32_t* multiprocessors,
                                         int32_t* supported, char* message, size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() -> b12x_status_t {
    int count = 0;
    B12X_CUDA_TRY(cudaGetDeviceCount(&count), "CUDA device count query");
    if (device < 0 || device >= count) {
      b12x::write_message(message, message_capacity, "device %d does not exist (%d CUDA devices)", device, count);
      return B12X_STATUS_INVALID_ARGUMENT;
    }
    int major = 0, minor = 0, sms = 0;
    B12X_CUDA_TRY(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "compute capability query");
    B12X_CUDA_TRY(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device), "compute capability query");
    B12X_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "multiprocessor count query");
    if (compute_capability != nullptr) *compute_capability = major * 10 + minor;
    if (multiprocessors != nullptr) *multiprocessors = sms;
    if (supported != nullptr) {
      // The build carries a kernel image for this device exactly when a kernel's attributes can be read on it.
      b12x::DeviceScope scope(device);
      cudaFuncAttributes attributes{};
      cudaError_t e = cudaFuncGetAttributes(&attributes, b12x::probe_kernel());
      *supported = (major >= 8 && e == cudaSuccess) ? 1 : 0;
      if (e != cudaSuccess) cudaGetLastError();  // clear the non-sticky "no kernel image" error
    }
    return B12X_STATUS_SUCCESS;
  });
}

B12X_API b12x_status_t b12x_device_name_query(int32_t device, char* name, size_t name_capacity, char* message,
                                              size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() -> b12x_status_t {
    b12x_status_t status = b12x::check_device(device, message, message_capacity);
    if (status != B12X_STATUS_SUCCESS) return status;
    cudaDeviceProp properties{};
    B12X_CUDA_TRY(cudaGetDeviceProperties(&properties, device), "device properties query");
    b12x::write_message(name, name_capacity, "%s", properties.name);
    return B12X_STATUS_SUCCESS;
  });
}

B12X_API b12x_status_t b12x_device_memory_query(int32_t device, size_t* free_bytes, size_t* total_bytes,
                                                char* message, size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() -> b12x_status_t {
    b12x_status_t status = b12x::check_device(device, message, message_capacity);
    if (status != B12X_STATUS_SUCCESS) return status;
    b12x::DeviceScope scope(device);
    B12X_CUDA_TRY(scope.status(), "selecting the device");
    size_t free_memory = 0, total_memory = 0;
    B12X_CUDA_TRY(cudaMemGetInfo(&free_memory, &total_memory), "cudaMemGetInfo");
    if (free_bytes != nullptr) *free_bytes = free_memory;
    if (total_bytes != nullptr) *total_bytes = total_memory;
    return B12X_STATUS_SUCCESS;
  });
}

B12X_API b12x_status_t b12x_moe_plan_query(const b12x_moe_problem_t* problem, int32_t* strategy,
                                           size_t* workspace_bytes, char* message, size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() -> b12x_status_t {
    b12x_status_t status = b12x::validate_problem_shape(problem, message, message_capacity);
    if (status != B12X_STATUS_SUCCESS) return status;
    const int32_t resolved = b12x::resolve_strategy(*problem);
    if (strategy != nullptr) *strategy = resolved;  // also when that strategy's limits refuse the problem (header)
    if (problem->num_tokens > 0) {
      status = b12x::check_device(problem->device, message, message_capacity);
      if (status != B12X_STATUS_SUCCESS) return status;
      status = b12x::check_kernel_limits(*problem, resolved, message, message_capacity);
      if (status != B12X_STATUS_SUCCESS) return status;
    }
    if (workspace_bytes != nullptr) *workspace_bytes = b12x::workspace_for(*problem).total;
    return B12X_STATUS_SUCCESS;
  });
}

B12X_API b12x_status_t b12x_moe_run(const b12x_moe_problem_t* problem, void* workspace, size_t workspace_bytes,
                                    void* stream, int32_t* strategy_used, char* message, size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() -> b12x_status_t {
    b12x_status_t status = b12x::check_problem_call(problem, workspace, workspace_bytes, message, message_capacity);
    if (status != B12X_STATUS_SUCCESS) return status;
    const int32_t strategy = b12x::resolve_strategy(*problem);
    if (strategy_used != nullptr) *strategy_used = strategy;
    if (problem->num_tokens == 0) return B12X_STATUS_SUCCESS;
    b12x::DeviceScope scope(problem->device);
    B12X_CUDA_TRY(scope.status(), "selecting the problem's device");
    return b12x::launch_moe(*problem, strategy, workspace, static_cast<cudaStream_t>(stream), message, message_capacity);
  });
}

B12X_API b12x_status_t b12x_moe_time(const b12x_moe_problem_t* problem, void* workspace, size_t workspace_bytes,
                                     void* flush, size_t flush_bytes, int32_t iterations, void* stream,
                                     float* median_us, char* message, size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() -> b12x_status_t {
    if (iterations < 1 || median_us == nullptr || (flush_bytes > 0 && flush == nullptr)) {
      b12x::write_message(message, message_capacity, "iterations must be >= 1 (got %d), median_us non-null, flush non-null when flush_bytes > 0", iterations);
      return B12X_STATUS_INVALID_ARGUMENT;
    }
    b12x_status_t status = b12x::check_problem_call(problem, workspace, workspace_bytes, message, message_capacity);
    if (status != B12X_STATUS_SUCCESS) return status;
    b12x::DeviceScope scope(problem->device);
    B12X_CUDA_TRY(scope.status(), "selecting the problem's device");
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    const int32_t strategy = b12x::resolve_strategy(*problem);
    return b12x::median_time(
        [&]() { return b12x::launch_moe(*problem, strategy, workspace, s, message, message_capacity); }, flush,
        flush_bytes, iterations, s, median_us, message, message_capacity);
  });
}

B12X_API b12x_status_t b12x_moe_intermediate_codes(const b12x_moe_problem_t* problem, const void* workspace,
                                                   size_t workspace_bytes, uint8_t* codes, void* stream,
                                                   char* message, size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() -> b12x_status_t {
    if (problem != nullptr && problem->quant_mode != B12X_QUANT_MODE_NVFP4) {
      b12x::write_message(message, message_capacity, "intermediate FP4 codes exist only with B12X_QUANT_MODE_NVFP4");
      return B12X_STATUS_INVALID_ARGUMENT;
    }
    b12x_status_t status = b12x::check_problem_call(problem, workspace, workspace_bytes, message, message_capacity);
    if (status != B12X_STATUS_SUCCESS || problem->num_tokens == 0) return status;
    if (codes == nullptr) {
      b12x::write_message(message, message_capacity, "codes must be non-null");
      return B12X_STATUS_INVALID_ARGUMENT;
    }
    b12x::DeviceScope scope(problem->device);
    B12X_CUDA_TRY(scope.status(), "selecting the problem's device");
    return b12x::launch_intermediate_export(*problem, workspace, codes, static_cast<cudaStream_t>(stream), message,
                                            message_capacity);
  });
}

B12X_API b12x_status_t b12x_nvfp4_quantize(const void* x, int32_t rows, int32_t cols, const float* global_scale,
                                           uint8_t* codes, uint8_t* scales, int32_t device, void* stream,
                                           char* message, size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() -> b12x_status_t {
    if (rows < 0 || cols <= 0 || cols % 16 != 0) {
      b12x::write_message(message, message_capacity,
                          "rows must be >= 0 and cols a positive multiple of 16, got rows %d, cols %d", rows, cols);
      return B12X_STATUS_INVALID_ARGUMENT;
    }
    if (rows > 0 && (x == nullptr || (reinterpret_cast<uintptr_t>(x) % 16) != 0 || global_scale == nullptr ||
                     codes == nullptr || (reinterpret_cast<uintptr_t>(codes) % 8) != 0 || scales == nullptr)) {
      b12x::write_message(message, message_capacity,
                          "x (16-byte aligned), global_scale, codes (8-byte aligned) and scales must be non-null");
      return B12X_STATUS_INVALID_ARGUMENT;
    }
    b12x_status_t status = b12x::check_device(device, message, message_capacity);
    if (status != B12X_STATUS_SUCCESS) return status;
    b12x::DeviceScope scope(device);
    B12X_CUDA_TRY(scope.status(), "selecting the device");
    return b12x::launch_quantize(x, rows, cols, global_scale, codes, scales, static_cast<cudaStream_t>(stream),
                                 message, message_capacity);
  });
}

B12X_API b12x_status_t b12x_fault_arm(int32_t fault, char* message, size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() { return b12x::arm_fault(fault, message, message_capacity); });
}

}  // extern "C"
