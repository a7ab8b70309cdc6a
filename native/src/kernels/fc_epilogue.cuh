// What the FC1 and FC2 kernels of every strategy do with finished fp32 sums: the activation (step 3), the FC2-input
// block (step 4) and the decode kernels' y rows. `row` is a row of the FC2-input planes: the routed pair (micro) or
// the slot (static, dynamic).
#pragma once
#include <cuda_bf16.h>
#include <cstdint>
#include "../common/activation.cuh"
#include "../common/nvfp4_block.cuh"
#include "../common/e2m1_fp16.cuh"
#include "../dispatch/moe_params.h"
#include "wgmma_operand.cuh"

namespace b12x {

// Step 3 for one feature: the activation of the FC1 sums (up, and gate when gated), rounded to bf16.
template <bool kGated>
__device__ __forceinline__ float fc1_activation(float alpha1, float up, float gate) {
  const float v = kGated ? silu_gated(__fmul_rn(alpha1, gate), __fmul_rn(alpha1, up)) : relu_squared(__fmul_rn(alpha1, up));
  return __bfloat162float(__float2bfloat16_rn(v));
}

// The NVFP4 block of features n_first.. (codes of elements 0..7 in .x, 8..15 in .y; E4M3 scale byte) into `row` of
// the aq plane.
__device__ __forceinline__ void store_fc1_codes(const MoeParams& p, int64_t row, int32_t n_first, uint2 codes,
                                                uint32_t scale) {
  *reinterpret_cast<uint2*>(p.aq_codes + static_cast<int64_t>(row) * (p.intermediate / 2) + n_first / 2) = codes;
  p.aq_scales[static_cast<int64_t>(row) * scale_row_pitch(p.intermediate) + n_first / 16] = static_cast<uint8_t>(scale);
}

// Step 4 for a 16-feature block held one feature per lane by a half-warp (feature i in lane i of lanes 0-15 or
// 16-31): quantize_block16's arithmetic, with the amax and the code bytes gathered by shuffles. Every lane of the half
// calls it.
struct LaneBlock {
  uint32_t code;   // this lane's E2M1 code
  uint2 codes;     // the block's code bytes (elements 0..7 in .x, 8..15 in .y), in every lane of the half
  uint32_t scale;  // E4M3 scale byte
  float q;         // its decoded value
};

__device__ __forceinline__ LaneBlock quantize_block_across_lanes(float v, float gs) {
  const int lane = threadIdx.x & 31, base = lane & 16;
  const unsigned half = 0xFFFFu << base;
  float amax = amax_with(0.0f, v);
#pragma unroll
  for (int offset = 8; offset > 0; offset >>= 1) amax = amax_with(amax, __shfl_xor_sync(half, amax, offset));
  LaneBlock b;
  block_scale_of(amax, gs, b.scale, b.q);
  b.code = block_code_of(v, b.q, block_code_factor(b.q, gs));
  uint32_t word = b.code << ((lane & 7) * 4);
#pragma unroll
  for (int offset = 4; offset > 0; offset >>= 1) word |= __shfl_xor_sync(half, word, offset);  // lanes 0-7, 8-15
  b.codes = make_uint2(__shfl_sync(half, word, base), __shfl_sync(half, word, base + 8));
  return b;
}

// Step 4 for 16 activated features n_first.. of local expert l: the NVFP4 block (quantised with gs2) into `row` of
// the aq plane (and its exact values into the a_hat plane when the wgmma kernels run FC2), or the 16 bf16 values into
// `row` of a_bf16 (W4A16). One thread.
template <bool kFp4>
__device__ __forceinline__ void store_fc1_block(const MoeParams& p, int64_t row, int32_t l, int32_t n_first,
                                                const float (&v)[16]) {
  if constexpr (kFp4) {
    const QuantizedBlock q = quantize_block16(v, p.gs2.at(l));
    store_fc1_codes(p, row, n_first, make_uint2(q.codes[0], q.codes[1]), q.scale);
    if (p.a_hat != nullptr) {
      uint32_t pairs[8];
      dequantize_block_fp16<true>(make_uint2(q.codes[0], q.codes[1]), e4m3_to_fp16x2_broadcast(q.scale), pairs);
      store_wgmma_block(p.a_hat + row * wgmma_row_pitch(p.intermediate), n_first / 16, p.intermediate / 16, pairs);
    }
  } else {
    uint32_t packed[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      packed[i] = static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(v[2 * i]))) |
                  (static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(v[2 * i + 1]))) << 16);
    }
    uint4* dst = reinterpret_cast<uint4*>(p.a_bf16 + static_cast<int64_t>(row) * p.intermediate + n_first);
    dst[0] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
    dst[1] = make_uint4(packed[4], packed[5], packed[6], packed[7]);
  }
}

// The factor of a routed pair's FC2 sums in its y row: fp32(w * alpha2) (step 6's per-pair term).
__device__ __forceinline__ float fc2_row_scale(const MoeParams& p, int32_t pair, int32_t l) {
  return __fmul_rn(p.routing_weights[pair], p.alpha2(l));
}

// Step 5's output for hidden row h of a routed pair: y = fp32(w * alpha2) * sum, by pair index (the combine reads it).
__device__ __forceinline__ void store_fc2_row(const MoeParams& p, int32_t pair, int32_t l, int32_t h, float sum) {
  p.y[static_cast<int64_t>(pair) * p.hidden + h] = __fmul_rn(fc2_row_scale(p, pair, l), sum);
}

}  // namespace b12x
