#include "moe_gemm_kernels.cuh"
#include "grouped_gemm_sm80.cuh"
#include "../common/nvfp4_block.cuh"
#include "../common/activation.cuh"

namespace b12x {
namespace {

// Next work item of this CTA, identical in every thread; false when the work is done.
__device__ __forceinline__ bool next_work_item(const MoeParams& p, int32_t persistent, int32_t queue, int32_t round,
                                               int32_t row_tiles, int32_t tn, WorkItem& w) {
  __shared__ int32_t claimed;
  int32_t item;
  if (persistent) {
    __syncthreads();  // everyone has read the previous claim
    if (threadIdx.x == 0) claimed = atomicAdd(&p.queue_heads[queue], 1);
    __syncthreads();
    item = claimed;
  } else {
    if (round > 0) return false;
    item = blockIdx.x;
  }
  return decode_work_item(p, item, row_tiles, tn, w);
}

// Token operand of this lane for a work item: column g of each 8-token tile, or null past the tile's slots.
template <int TN, bool kFp4>
__device__ __forceinline__ TokenOperand<TN, kFp4> token_operand(const MoeParams& p, const WorkItem& w, int32_t k,
                                                                bool fc1) {
  const int g = (threadIdx.x & 31) >> 2;
  TokenOperand<TN, kFp4> to;
#pragma unroll
  for (int n = 0; n < TN / 8; ++n) {
    const int32_t j = n * 8 + g;
    const bool valid = j < w.slots;
    const int32_t slot = w.first_slot + j;
    to.codes[n] = nullptr;
    to.scales[n] = nullptr;
    to.values[n] = nullptr;
    if (!valid) continue;
    if constexpr (kFp4) {
      to.codes[n] = (fc1 ? p.xq_codes : p.aq_codes) + static_cast<int64_t>(slot) * (k / 2);
      to.scales[n] = (fc1 ? p.xq_scales : p.aq_scales) + static_cast<int64_t>(slot) * (k / 16);
    } else {
      to.values[n] = fc1 ? p.x + static_cast<int64_t>(p.slot_pair[slot] / p.top_k) * k
                         : p.a_bf16 + static_cast<int64_t>(slot) * k;
    }
  }
  return to;
}

}  // namespace

template <int TN, bool kGated, bool kFp4B>
__global__ void __launch_bounds__(kGemmThreads) moe_fc1_kernel(MoeParams p, int32_t persistent) {
  constexpr int NA = kGated ? 2 : 1;
  __shared__ DequantTable table;
  __shared__ float stage[kGemmWarps][TN][kStagePitch];
  table.fill();
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  const int32_t row_tiles = (p.intermediate + kRowsPerCta - 1) / kRowsPerCta;
  WorkItem w;
  for (int32_t round = 0; next_work_item(p, persistent, 0, round, row_tiles, TN, w); ++round) {
    const int32_t n_first = w.row0 + warp * kRowsPerWarp;  // first intermediate feature of this warp's block
    if (n_first >= p.intermediate) continue;                // whole 16-row block past I (I % 16 == 0)
    WeightOperand<NA> wo;
    wo.codes = p.w1 + static_cast<int64_t>(w.expert) * p.w1_rows * (p.hidden / 2);
    wo.scales = p.w1_scales;
    wo.sa = p.w1_sa;
    wo.expert = w.expert;
    wo.k = p.hidden;
#pragma unroll
    for (int a = 0; a < NA; ++a) {
      wo.row[a][0] = a * p.intermediate + n_first + g;  // a = 0: up (or the relu2 rows), a = 1: gate
      wo.row[a][1] = a * p.intermediate + n_first + g + 8;
    }
    float acc[NA][TN / 8][4];
#pragma unroll
    for (int a = 0; a < NA; ++a)
#pragma unroll
      for (int n = 0; n < TN / 8; ++n) acc[a][n][0] = acc[a][n][1] = acc[a][n][2] = acc[a][n][3] = 0.0f;
    gemm_mainloop<TN, NA, kFp4B>(table, wo, token_operand<TN, kFp4B>(p, w, p.hidden, true), acc);

    // Activation of this warp's 16 features x TN tokens, rounded to bf16, staged as [token][feature].
    const float alpha1 = p.alpha1(w.expert);
#pragma unroll
    for (int n = 0; n < TN / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int row = g + (i >= 2 ? 8 : 0), token = n * 8 + 2 * c + (i & 1);
        const float value = kGated ? silu_gated(__fmul_rn(alpha1, acc[1][n][i]), __fmul_rn(alpha1, acc[0][n][i]))
                                   : relu_squared(__fmul_rn(alpha1, acc[0][n][i]));
        stage[warp][token][row] = __bfloat162float(__float2bfloat16_rn(value));
      }
    }
    __syncwarp();
    // One lane per token: NVFP4 block of 16 features with gs2, or the 16 bf16 values.
    for (int token = lane; token < TN; token += 32) {
      if (token >= w.slots) continue;
      const int64_t slot = w.first_slot + token;
      if constexpr (kFp4B) {
        float v[16];
#pragma unroll
        for (int i = 0; i < 16; ++i) v[i] = stage[warp][token][i];
        const QuantizedBlock q = quantize_block16(v, p.gs2.at(w.expert));
        *reinterpret_cast<uint2*>(p.aq_codes + slot * (p.intermediate / 2) + n_first / 2) =
            make_uint2(q.codes[0], q.codes[1]);
        p.aq_scales[slot * (p.intermediate / 16) + n_first / 16] = static_cast<uint8_t>(q.scale);
      } else {
        uint32_t packed[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          packed[i] = static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(stage[warp][token][2 * i]))) |
                      (static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(stage[warp][token][2 * i + 1]))) << 16);
        }
        uint4* dst = reinterpret_cast<uint4*>(p.a_bf16 + slot * p.intermediate + n_first);
        dst[0] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
        dst[1] = make_uint4(packed[4], packed[5], packed[6], packed[7]);
      }
    }
    __syncwarp();
  }
}

template <int TN, bool kFp4B>
__global__ void __launch_bounds__(kGemmThreads) moe_fc2_kernel(MoeParams p, int32_t persistent) {
  __shared__ DequantTable table;
  __shared__ float stage[kGemmWarps][TN][kStagePitch];
  table.fill();
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  const int32_t row_tiles = (p.hidden + kRowsPerCta - 1) / kRowsPerCta;
  WorkItem w;
  for (int32_t round = 0; next_work_item(p, persistent, 1, round, row_tiles, TN, w); ++round) {
    const int32_t h_first = w.row0 + warp * kRowsPerWarp;
    if (h_first >= p.hidden) continue;
    WeightOperand<1> wo;
    wo.codes = p.w2 + static_cast<int64_t>(w.expert) * p.hidden * (p.intermediate / 2);
    wo.scales = p.w2_scales;
    wo.sa = p.w2_sa;
    wo.expert = w.expert;
    wo.k = p.intermediate;
    wo.row[0][0] = h_first + g;
    wo.row[0][1] = h_first + g + 8;
    float acc[1][TN / 8][4];
#pragma unroll
    for (int n = 0; n < TN / 8; ++n) acc[0][n][0] = acc[0][n][1] = acc[0][n][2] = acc[0][n][3] = 0.0f;
    gemm_mainloop<TN, 1, kFp4B>(table, wo, token_operand<TN, kFp4B>(p, w, p.intermediate, false), acc);

    const float alpha2 = p.alpha2(w.expert);
#pragma unroll
    for (int n = 0; n < TN / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int row = g + (i >= 2 ? 8 : 0), token = n * 8 + 2 * c + (i & 1);
        stage[warp][token][row] = acc[0][n][i];
      }
    }
    __syncwarp();
    for (int token = lane; token < TN; token += 32) {
      if (token >= w.slots) continue;
      const int32_t pair = p.slot_pair[w.first_slot + token];
      const float scale = __fmul_rn(p.routing_weights[pair], alpha2);
      float4* dst = reinterpret_cast<float4*>(p.y + static_cast<int64_t>(pair) * p.hidden + h_first);
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        dst[q] = make_float4(__fmul_rn(scale, stage[warp][token][4 * q]), __fmul_rn(scale, stage[warp][token][4 * q + 1]),
                             __fmul_rn(scale, stage[warp][token][4 * q + 2]), __fmul_rn(scale, stage[warp][token][4 * q + 3]));
      }
    }
    __syncwarp();
  }
}

// The instantiations the dispatcher launches (tile_shapes.h names the token tiles).
#define B12X_INSTANTIATE(TN)                                                                  \
  template __global__ void __launch_bounds__(kGemmThreads) moe_fc1_kernel<TN, true, true>(MoeParams, int32_t);                \
  template __global__ void __launch_bounds__(kGemmThreads) moe_fc1_kernel<TN, true, false>(MoeParams, int32_t);               \
  template __global__ void __launch_bounds__(kGemmThreads) moe_fc1_kernel<TN, false, true>(MoeParams, int32_t);               \
  template __global__ void __launch_bounds__(kGemmThreads) moe_fc1_kernel<TN, false, false>(MoeParams, int32_t);              \
  template __global__ void __launch_bounds__(kGemmThreads) moe_fc2_kernel<TN, true>(MoeParams, int32_t);                      \
  template __global__ void __launch_bounds__(kGemmThreads) moe_fc2_kernel<TN, false>(MoeParams, int32_t);
B12X_INSTANTIATE(8)
B12X_INSTANTIATE(32)
B12X_INSTANTIATE(64)
#undef B12X_INSTANTIATE

}  // namespace b12x
