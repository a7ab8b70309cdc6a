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

__global__ void moe_quantize_fc1_input(MoeParams p) {
  const int32_t blocks_per_row = p.hidden / 16;
  const int64_t total = static_cast<int64_t>(p.offsets[p.local_experts]) * blocks_per_row;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int32_t slot = static_cast<int32_t>(i / blocks_per_row), block = static_cast<int32_t>(i % blocks_per_row);
    int32_t token = p.slot_pair[slot] / p.top_k;
    float v[16];
    load_bf16_block16(p.x + static_cast<int64_t>(token) * p.hidden + block * 16, v);
    QuantizedBlock q = quantize_block16(v, p.input_scale(p.slot_expert[slot]));
    store_block(q, p.xq_codes + static_cast<int64_t>(slot) * (p.hidden / 2) + block * 8,
                p.xq_scales + static_cast<int64_t>(slot) * scale_row_pitch(p.hidden) + block);
    if (p.x_hat != nullptr) {
      uint32_t pairs[8];
      dequantize_block_ordered(make_uint2(q.codes[0], q.codes[1]), e4m3_to_bf16x2(q.scale), pairs);
      store_wgmma_block(p.x_hat + slot * wgmma_row_pitch(p.hidden), block, blocks_per_row, pairs);
    }
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
