// Row pitches of workspace planes (host and device): the layout sizes them, the kernels index them.
#pragma once
#include <cuda_runtime.h>
#include <cstdint>

namespace b12x {

// Bytes between consecutive rows of a workspace scale plane: the row's C/16 block scales padded to a multiple of 4,
// so every group of 4 blocks (one K step of the GEMMs) is one aligned 4-byte word.
__host__ __device__ constexpr int32_t scale_row_pitch(int32_t columns) { return (columns / 16 + 3) / 4 * 4; }

// K elements per step of the wgmma kernels' token planes (x_hat, a_hat; wgmma_operand.cuh).
constexpr int kWgmmaStepElements = 64;

// Steps in a row of a wgmma token plane of a K-long operand: K rounded up to whole steps (padding is zero).
__host__ __device__ constexpr int64_t wgmma_steps(int64_t k) { return (k + kWgmmaStepElements - 1) / kWgmmaStepElements; }

// Elements per row of a wgmma token plane of a K-long operand.
__host__ __device__ constexpr int64_t wgmma_row_pitch(int64_t k) { return wgmma_steps(k) * kWgmmaStepElements; }

}  // namespace b12x
