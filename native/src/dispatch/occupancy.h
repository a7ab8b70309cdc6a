// Resident CTAs per SM of a kernel, as the persistent grids need them on every call (gemm_grid.cuh).
#pragma once
#include <cuda_runtime.h>
#include <cstddef>

namespace b12x {

// cudaOccupancyMaxActiveBlocksPerMultiprocessor for `kernel` on the current device, asked once per kernel, block
// size, dynamic shared memory and device, then cached: the answer is fixed for a loaded image, and a decode call would
// otherwise ask it twice per layer.
cudaError_t resident_ctas_per_sm(const void* kernel, int threads, size_t shared_bytes, int* per_sm);

}  // namespace b12x
