// Block-scale addressing: the 128x4 swizzle of NVIDIA's block-scaled MMAs and the linear checkpoint layout.
// Same formula as src/Microsoft.ML.B12x/Formats/SwizzledScaleLayout.cs:
//   Np = 128 * ceil(N / 128), Cbp = 4 * ceil((C / 16) / 4), storage [E][Np/128][Cbp/4][32][4][4] bytes,
//   offset(e, r, b) = e*Np*Cbp + (r/128)*(Cbp*128) + (b/4)*512 + (r%32)*16 + ((r%128)/32)*4 + b%4.
#pragma once
#include <cstdint>

namespace b12x {

struct ScaleAddressing {
  int64_t expert_stride;  // bytes per expert
  int32_t padded_blocks;  // Cbp (swizzled) or C/16 (linear)
  bool swizzled;

  __host__ __device__ static ScaleAddressing make(bool swizzled, int32_t rows, int32_t columns) {
    ScaleAddressing a;
    a.swizzled = swizzled;
    int32_t blocks = columns / 16;
    if (swizzled) {
      int32_t padded_rows = (rows + 127) / 128 * 128;
      a.padded_blocks = (blocks + 3) / 4 * 4;
      a.expert_stride = static_cast<int64_t>(padded_rows) * a.padded_blocks;
    } else {
      a.padded_blocks = blocks;
      a.expert_stride = static_cast<int64_t>(rows) * blocks;
    }
    return a;
  }

  // Byte offset of (row, block) within one expert.
  __host__ __device__ __forceinline__ int64_t in_expert(int32_t row, int32_t block) const {
    if (!swizzled) return static_cast<int64_t>(row) * padded_blocks + block;
    return static_cast<int64_t>(row >> 7) * (padded_blocks << 7) + (block >> 2) * 512 + (row & 31) * 16 +
           ((row & 127) >> 5) * 4 + (block & 3);
  }

  __host__ __device__ __forceinline__ int64_t offset(int32_t expert, int32_t row, int32_t block) const {
    return expert * expert_stride + in_expert(row, block);
  }

  // Bytes from the scale of (row, block) to that of (row, block + 4): one 512-byte atom (swizzled) or 4 bytes.
  __host__ __device__ __forceinline__ int32_t four_block_stride() const { return swizzled ? 512 : 4; }
};

}  // namespace b12x
