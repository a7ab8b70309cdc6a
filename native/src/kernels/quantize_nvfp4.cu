#include "quantize_nvfp4.cuh"
#include "../common/e2m1_bf16.cuh"
#include "../common/nvfp4_block.cuh"
#include "wgmma_operand.cuh"

namespace b12x {
namespace {

__device__ __forceinline__ void store_block(const QuantizedBlock& q, uint8_t* codes, uint8_t* scale) {
  *reinterpret_cast<uint2*>(codes) = make_uint2(q.codes[0], q.codes[1]);  // 8-byte aligned: block j at 8j
  *scale = static_cast<uint8_t>(q.scale);
}

}  // namespace

// One thread per (slot, 64-element K step): the step's 4 blocks are quantised in turn, so that the slot's lookups
// are made once per 4 blocks and the x_hat step (wgmma's 8 chunks of 16 bytes) is written whole, as 16-byte stores,
// instead of 4-byte pieces of every chunk from 4 threads. The codes plane is read only by the mma.sync kernels, so
// it is skipped when the wgmma kernels (x_hat) take the call.
__global__ void moe_quantize_fc1_input(MoeParams p) {
  const int32_t k_blocks = p.hidden / 16;
  const int32_t steps = (k_blocks + kBlocksPerWgmmaStep - 1) / kBlocksPerWgmmaStep;
  const int64_t total = static_cast<int64_t>(p.offsets[p.local_experts]) * steps;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t slot = static_cast<int32_t>(i / steps), step = static_cast<int32_t>(i % steps);
    const __nv_bfloat16* x = p.x + static_cast<int64_t>(p.slot_pair[slot] / p.top_k) * p.hidden;
    const float gs = p.input_scale(p.slot_expert[slot]);
    uint32_t chunks[8][kBlocksPerWgmmaStep];  // chunk q, lane column c: pair q of block c (wgmma_operand.cuh)
#pragma unroll
    for (int c = 0; c < kBlocksPerWgmmaStep; ++c) {
      const int32_t block = step * kBlocksPerWgmmaStep + c;
      uint32_t pairs[8] = {};  // blocks past K are zero padding
      if (block < k_blocks) {
        float v[16];
        load_bf16_block16(x + block * 16, v);
        const QuantizedBlock q = quantize_block16(v, gs);
        if (p.x_hat == nullptr) {
          store_block(q, p.xq_codes + static_cast<int64_t>(slot) * (p.hidden / 2) + block * 8,
                      p.xq_scales + static_cast<int64_t>(slot) * scale_row_pitch(p.hidden) + block);
        } else {
          dequantize_block_ordered(make_uint2(q.codes[0], q.codes[1]), e4m3_to_bf16x2(q.scale), pairs);
        }
      }
#pragma unroll
      for (int q = 0; q < 8; ++q) chunks[q][c] = pairs[q];
    }
    if (p.x_hat != nullptr) store_wgmma_step(p.x_hat + slot * wgmma_row_pitch(p.hidden), step, chunks);
  }
}

__global__ void nvfp4_quantize_rows(const __nv_bfloat16* x, int32_t rows, int32_t cols, const float* global_scale,
                                    uint8_t* codes, uint8_t* scales) {
  const int32_t blocks_per_row = cols / 16;
  const int64_t total = static_cast<int64_t>(rows) * blocks_per_row;
  const float gs = *global_scale;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v[16];
    load_bf16_block16(x + i * 16, v);
    store_block(quantize_block16(v, gs), codes + i * 8, scales + i);
  }
}

}  // namespace b12x
