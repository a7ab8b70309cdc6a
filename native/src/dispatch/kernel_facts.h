// What the CUDA runtime says about a kernel that cannot change while the process runs, asked once per kernel and
// device and then cached: a decode call is bound by host time, and each runtime query costs it microseconds. Only
// cudaDeviceReset would undo an opt-in; it also invalidates every TorchSharp tensor, and the library does not
// support it.
#pragma once
#include <cuda_runtime.h>
#include <cstddef>

namespace b12x {

// cudaOccupancyMaxActiveBlocksPerMultiprocessor for `kernel` on the current device, per block size and dynamic shared
// memory (the persistent grids, gemm_grid.cuh).
cudaError_t resident_ctas_per_sm(const void* kernel, int threads, size_t shared_bytes, int* per_sm);

// The kernel's static shared memory on the current device (cudaFuncAttributes::sharedSizeBytes).
cudaError_t static_shared_bytes(const void* kernel, size_t* bytes);

// Lets `kernel` launch with `bytes` of dynamic shared memory on the current device: sets its
// cudaFuncAttributeMaxDynamicSharedMemorySize when no earlier call set it to `bytes` or more.
cudaError_t allow_dynamic_shared(const void* kernel, size_t bytes);

}  // namespace b12x
