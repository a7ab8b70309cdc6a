#include "moe_micro.cuh"

#include "../common/activation.cuh"
#include "../common/nvfp4_block.cuh"
#include "../common/tile_shapes.h"
#include "grouped_gemm_sm80.cuh"

namespace b12x {
namespace {

constexpr int KS = kMicroKSplit;
static_assert(KS == kGemmWarps, "one 16-row group per CTA: every warp splits K");

// Token fragments of one K step for a single-token MMA tile: only column 0 (lanes with g == 0) carries data.
// NVFP4 FC1 quantises the x block here (step 1, bit-identical to the quantiser kernel); FC2 dequantises the
// pair's stored codes; W4A16 passes bf16 values through.
struct SingleToken {
  uint32_t pairs[8];  // bf16 pairs of the lane's block: elements (2j, 2j+1)
};

__device__ __forceinline__ SingleToken token_from_bf16(const __nv_bfloat16* row, int32_t kb, bool valid) {
  SingleToken t;
  uint4 lo = make_uint4(0u, 0u, 0u, 0u), hi = lo;
  if (valid) {
    const uint4* src = reinterpret_cast<const uint4*>(row + kb * 16);
    lo = src[0];
    hi = src[1];
  }
  t.pairs[0] = lo.x; t.pairs[1] = lo.y; t.pairs[2] = lo.z; t.pairs[3] = lo.w;
  t.pairs[4] = hi.x; t.pairs[5] = hi.y; t.pairs[6] = hi.z; t.pairs[7] = hi.w;
  return t;
}

__device__ __forceinline__ SingleToken token_from_codes(const DequantTable& table, uint2 codes, float q) {
  SingleToken t;
  const uint32_t scale = bf16x2_broadcast(q);
#pragma unroll
  for (int j = 0; j < 8; ++j) t.pairs[j] = bf16x2_mul(table.pair[block_byte(codes, j)], scale);
  return t;
}

__device__ __forceinline__ SingleToken quantized_x_block(const DequantTable& table, const __nv_bfloat16* row,
                                                         int32_t kb, bool valid, float gs) {
  if (!valid) return token_from_bf16(row, kb, false);
  const SingleToken raw = token_from_bf16(row, kb, true);
  float v[16];
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    v[2 * j] = __uint_as_float(raw.pairs[j] << 16);
    v[2 * j + 1] = __uint_as_float(raw.pairs[j] & 0xFFFF0000u);
  }
  const QuantizedBlock q = quantize_block16(v, gs);
  return token_from_codes(table, make_uint2(q.codes[0], q.codes[1]), q.q);
}

template <int NA>
__device__ __forceinline__ void mma_single_token(const DequantTable& table, const WeightStep<NA>& ws,
                                                 const SingleToken& token, float (&acc)[NA][1][4]) {
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    const uint32_t b0[1] = {token.pairs[2 * s]}, b1[1] = {token.pairs[2 * s + 1]};
    mma_weight_step(table, ws, s, b0, b1, acc);
  }
}

template <bool kGated, bool kFp4>
__global__ void __launch_bounds__(kGemmThreads) moe_micro_fc1(MoeParams p) {
  constexpr int NA = kGated ? 2 : 1;
  __shared__ DequantTable table;
  __shared__ SplitReduction<KS, NA, 8> split;
  __shared__ float activations[kRowsPerWarp];
  const int32_t row_groups = p.intermediate / kRowsPerWarp;
  const int32_t pair = blockIdx.x / row_groups;
  const int32_t n_first = (blockIdx.x % row_groups) * kRowsPerWarp;
  const int32_t l = p.local_expert_of(pair);
  if (l < 0) return;  // the whole CTA leaves together
  table.fill();
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  WeightOperand<NA> wo;
  wo.codes = p.w1 + static_cast<int64_t>(l) * p.w1_rows * (p.hidden / 2);
  wo.scales = p.w1_scales;
  wo.sa = p.w1_sa;
  wo.expert = l;
  wo.k = p.hidden;
#pragma unroll
  for (int a = 0; a < NA; ++a) {
    wo.row[a][0] = a * p.intermediate + n_first + g;
    wo.row[a][1] = a * p.intermediate + n_first + g + 8;
  }
  const __nv_bfloat16* x = p.x + static_cast<int64_t>(pair / p.top_k) * p.hidden;
  const float gs1 = kFp4 ? p.input_scale(l) : 0.0f;
  const int32_t k_blocks = p.hidden / 16;
  const int32_t steps = (k_blocks + kBlocksPerStep - 1) / kBlocksPerStep;
  float acc[NA][1][4] = {};
  for (int32_t step = warp; step < steps; step += KS) {
    const int32_t kb = step * kBlocksPerStep + c;
    const bool k_valid = kb < k_blocks;
    WeightStep<NA> ws;
    load_weight_step(wo, kb, k_valid, ws);
    const bool has_token = g == 0 && k_valid;
    const SingleToken token = kFp4 ? quantized_x_block(table, x, kb, has_token, gs1) : token_from_bf16(x, kb, has_token);
    mma_single_token(table, ws, token, acc);
  }
  split.reduce(acc);
  if (warp != 0) return;
  if (c == 0) {  // column 0 = the token: rows g (register 0) and g + 8 (register 2)
    const float alpha1 = p.alpha1(l);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int i = 2 * r;
      const float v = kGated ? silu_gated(__fmul_rn(alpha1, acc[1][0][i]), __fmul_rn(alpha1, acc[0][0][i]))
                             : relu_squared(__fmul_rn(alpha1, acc[0][0][i]));
      activations[g + 8 * r] = __bfloat162float(__float2bfloat16_rn(v));
    }
  }
  __syncwarp();
  if (lane != 0) return;
  float v[16];
#pragma unroll
  for (int i = 0; i < 16; ++i) v[i] = activations[i];
  if constexpr (kFp4) {
    const QuantizedBlock q = quantize_block16(v, p.gs2.at(l));
    *reinterpret_cast<uint2*>(p.aq_codes + static_cast<int64_t>(pair) * (p.intermediate / 2) + n_first / 2) =
        make_uint2(q.codes[0], q.codes[1]);
    p.aq_scales[static_cast<int64_t>(pair) * scale_row_pitch(p.intermediate) + n_first / 16] = static_cast<uint8_t>(q.scale);
  } else {
    uint32_t packed[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      packed[i] = static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(v[2 * i]))) |
                  (static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(v[2 * i + 1]))) << 16);
    }
    uint4* dst = reinterpret_cast<uint4*>(p.a_bf16 + static_cast<int64_t>(pair) * p.intermediate + n_first);
    dst[0] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
    dst[1] = make_uint4(packed[4], packed[5], packed[6], packed[7]);
  }
}

template <bool kFp4>
__global__ void __launch_bounds__(kGemmThreads) moe_micro_fc2_combine(MoeParams p) {
  __shared__ DequantTable table;
  __shared__ SplitReduction<KS, 1, 8> split;
  __shared__ int any_nonfinite;
  const int32_t row_groups = p.hidden / kRowsPerWarp;
  const int32_t t = blockIdx.x / row_groups;
  const int32_t h_first = (blockIdx.x % row_groups) * kRowsPerWarp;
  table.fill();
  if (threadIdx.x == 0) any_nonfinite = 0;
  __syncthreads();
  const __nv_bfloat16* xrow = p.x + static_cast<int64_t>(t) * p.hidden;
  bool nonfinite = false;
  for (int32_t h = threadIdx.x; h < p.hidden; h += blockDim.x) {
    nonfinite |= (__bfloat16_as_ushort(xrow[h]) & 0x7F80u) == 0x7F80u;  // exponent all ones: Inf or NaN
  }
  if (nonfinite) any_nonfinite = 1;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  const int32_t k_blocks = p.intermediate / 16;
  const int32_t steps = (k_blocks + kBlocksPerStep - 1) / kBlocksPerStep;
  float sum[2] = {0.0f, 0.0f};  // rows g and g + 8 of column 0, kept by warp 0's lanes with c == 0
  bool any_valid = false;
  for (int32_t k = 0; k < p.top_k; ++k) {
    const int32_t pair = t * p.top_k + k;
    const int32_t l = p.local_expert_of(pair);
    if (l < 0) continue;  // uniform across the CTA
    any_valid = true;
    WeightOperand<1> wo;
    wo.codes = p.w2 + static_cast<int64_t>(l) * p.hidden * (p.intermediate / 2);
    wo.scales = p.w2_scales;
    wo.sa = p.w2_sa;
    wo.expert = l;
    wo.k = p.intermediate;
    wo.row[0][0] = h_first + g;
    wo.row[0][1] = h_first + g + 8;
    const uint8_t* codes = p.aq_codes + static_cast<int64_t>(pair) * (p.intermediate / 2);
    const uint8_t* scales = p.aq_scales + static_cast<int64_t>(pair) * scale_row_pitch(p.intermediate);
    const __nv_bfloat16* values = p.a_bf16 + static_cast<int64_t>(pair) * p.intermediate;
    float acc[1][1][4] = {};
    for (int32_t step = warp; step < steps; step += KS) {
      const int32_t kb = step * kBlocksPerStep + c;
      const bool k_valid = kb < k_blocks;
      WeightStep<1> ws;
      load_weight_step(wo, kb, k_valid, ws);
      const bool has_token = g == 0 && k_valid;
      SingleToken token;
      if constexpr (kFp4) {
        token = token_from_codes(table, has_token ? *reinterpret_cast<const uint2*>(codes + kb * 8) : make_uint2(0u, 0u),
                                 has_token ? e4m3_decode(scales[kb]) : 0.0f);
      } else {
        token = token_from_bf16(values, kb, has_token);
      }
      mma_single_token(table, ws, token, acc);
    }
    split.reduce(acc);
    if (warp == 0 && c == 0) {
      const float scale = __fmul_rn(p.routing_weights[pair], p.alpha2(l));
      sum[0] = __fadd_rn(sum[0], __fmul_rn(scale, acc[0][0][0]));
      sum[1] = __fadd_rn(sum[1], __fmul_rn(scale, acc[0][0][2]));
    }
  }
  __syncthreads();  // any_nonfinite is complete
  if (warp != 0 || c != 0) return;
  const bool nan_row = any_valid && any_nonfinite;
  __nv_bfloat16* out = p.out + static_cast<int64_t>(t) * p.hidden + h_first;
  out[g] = nan_row ? __ushort_as_bfloat16(0x7FC0u) : __float2bfloat16_rn(sum[0]);
  out[g + 8] = nan_row ? __ushort_as_bfloat16(0x7FC0u) : __float2bfloat16_rn(sum[1]);
}

}  // namespace

cudaError_t launch_moe_micro(const MoeParams& p, cudaStream_t stream, const char** step) {
  const unsigned fc1_grid = static_cast<unsigned>(static_cast<int64_t>(p.tokens) * p.top_k * (p.intermediate / kRowsPerWarp));
  const unsigned fc2_grid = static_cast<unsigned>(static_cast<int64_t>(p.tokens) * (p.hidden / kRowsPerWarp));
  *step = "micro FC1 launch";
  if (p.gated) {
    if (p.nvfp4) moe_micro_fc1<true, true><<<fc1_grid, kGemmThreads, 0, stream>>>(p);
    else moe_micro_fc1<true, false><<<fc1_grid, kGemmThreads, 0, stream>>>(p);
  } else {
    if (p.nvfp4) moe_micro_fc1<false, true><<<fc1_grid, kGemmThreads, 0, stream>>>(p);
    else moe_micro_fc1<false, false><<<fc1_grid, kGemmThreads, 0, stream>>>(p);
  }
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  *step = "micro FC2 + combine launch";
  if (p.nvfp4) moe_micro_fc2_combine<true><<<fc2_grid, kGemmThreads, 0, stream>>>(p);
  else moe_micro_fc2_combine<false><<<fc2_grid, kGemmThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace b12x
