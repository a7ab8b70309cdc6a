// Row pitch of the workspace's activation scale planes (host and device).
#pragma once
#include <cuda_runtime.h>
#include <cstdint>

namespace b12x {

// Bytes between consecutive rows of a workspace scale plane: the row's C/16 block scales padded to a multiple of 4,
// so every group of 4 blocks (one K step of the GEMMs) is one aligned 4-byte word.
__host__ __device__ constexpr int32_t scale_row_pitch(int32_t columns) { return (columns / 16 + 3) / 4 * 4; }

}  // namespace b12x
