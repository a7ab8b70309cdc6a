// The token operand of the wgmma kernels (moe_gemm_wgmma.cu): the exact values of a slot's NVFP4 row (x-hat for FC1,
// a-hat for FC2) as fp16 in global memory (exact: e2m1_fp16.cuh), written once by the producer of the codes (the
// step-1 quantiser, FC1's epilogue) so that every row tile of the expert copies them instead of dequantising them
// again.
//
// A row holds K rounded up to a multiple of 64 (padding blocks are zero). Each 64-element K step is stored as the
// eight 16-byte chunks the kernel copies into wgmma's canonical B layout: chunk q = 2s + h holds, for lane column
// c = 0..3, the fp16 pair of block c that MMA k-step s takes as its first (h = 0: elements s, s+4) or second (h = 1:
// elements 8+s, 12+s) B register, i.e. block order of e2m1_bf16.cuh, pair q.
#pragma once
#include <cuda_fp16.h>
#include <cstdint>
#include "../dispatch/plane_pitch.h"

namespace b12x {

constexpr int kBlocksPerWgmmaStep = kWgmmaStepElements / 16;

// Stores block `block` (8 pairs in block order) of a row; the row's last block also zeroes the padding blocks of its
// K step.
__device__ __forceinline__ void store_wgmma_block(__half* row, int32_t block, int32_t k_blocks,
                                                  const uint32_t (&pairs)[8]) {
  uint32_t* step = reinterpret_cast<uint32_t*>(row + (block / kBlocksPerWgmmaStep) * kWgmmaStepElements);
  const int c = block % kBlocksPerWgmmaStep;
#pragma unroll
  for (int q = 0; q < 8; ++q) step[q * kBlocksPerWgmmaStep + c] = pairs[q];
  if (block == k_blocks - 1) {
    for (int pad = c + 1; pad < kBlocksPerWgmmaStep; ++pad)
#pragma unroll
      for (int q = 0; q < 8; ++q) step[q * kBlocksPerWgmmaStep + pad] = 0u;
  }
}

}  // namespace b12x
