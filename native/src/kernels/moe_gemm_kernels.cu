#include "moe_gemm_kernels.cuh"

#include "grouped_gemm_sm80.cuh"
#include "../common/nvfp4_block.cuh"
#include "fc_epilogue.cuh"
#include "gemm_grid.cuh"

namespace b12x {
namespace {

// Next work item of this CTA, identical in every thread; false when the work is done.
__device__ __forceinline__ bool next_work_item(const MoeParams& p, int32_t persistent, int32_t queue, int32_t round,
                                               int32_t row_tiles, int32_t rows, WorkItem& w) {
  __shared__ int32_t claimed;
  const int32_t item = gemm_work_item(p, persistent != 0, queue, round, claimed);
  return item >= 0 && decode_work_item(p, item, row_tiles, rows, w);
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
      to.scales[n] = (fc1 ? p.xq_scales : p.aq_scales) + static_cast<int64_t>(slot) * scale_row_pitch(k);
    } else {
      to.values[n] = fc1 ? p.x + static_cast<int64_t>(p.slot_pair[slot] / p.top_k) * k
                         : p.a_bf16 + static_cast<int64_t>(slot) * k;
    }
  }
  return to;
}

}  // namespace

template <int TN, int KS, bool kGated, bool kFp4B>
__global__ void __launch_bounds__(kGemmThreads) moe_fc1_kernel(MoeParams p, int32_t persistent) {
  constexpr int NA = kGated ? 2 : 1;
  constexpr int kRows = rows_per_cta(KS);
  __shared__ float stage[kGemmWarps][TN][kStagePitch];
  __shared__ SplitReduction<KS, NA, TN> split;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  const int32_t row_tiles = (p.intermediate + kRows - 1) / kRows;
  WorkItem w;
  for (int32_t round = 0; next_work_item(p, persistent, 0, round, row_tiles, kRows, w); ++round) {
    const int32_t n_first = w.row0 + (warp / KS) * kRowsPerWarp;  // first intermediate feature of this warp's group
    const bool rows_valid = n_first < p.intermediate;              // whole 16-row groups (I % 16 == 0)
    int32_t rows[NA][2];
#pragma unroll
    for (int a = 0; a < NA; ++a) {  // a = 0: up (or the relu2 rows), a = 1: gate
      rows[a][0] = rows_valid ? a * p.intermediate + n_first + g : -1;
      rows[a][1] = rows_valid ? a * p.intermediate + n_first + g + 8 : -1;
    }
    WeightOperand<NA> wo;
    wo.bind(p.w1 + static_cast<int64_t>(w.expert) * p.w1_rows * (p.hidden / 2), p.w1_scales, p.w1_sa, w.expert,
            p.hidden, rows);
    float acc[NA][TN / 8][4];
#pragma unroll
    for (int a = 0; a < NA; ++a)
#pragma unroll
      for (int n = 0; n < TN / 8; ++n) acc[a][n][0] = acc[a][n][1] = acc[a][n][2] = acc[a][n][3] = 0.0f;
    gemm_mainloop<TN, NA, kFp4B, (TN <= 32)>(wo, token_operand<TN, kFp4B>(p, w, p.hidden, true), warp % KS, KS, acc);
    split.reduce(acc);
    if (warp % KS != 0 || !rows_valid) continue;

    // Activation of this warp's 16 features x TN tokens, rounded to bf16, staged as [token][feature].
    const float alpha1 = p.alpha1(w.expert);
#pragma unroll
    for (int n = 0; n < TN / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int row = g + (i >= 2 ? 8 : 0), token = n * 8 + 2 * c + (i & 1);
        stage[warp][token][row] = fc1_activation<kGated>(alpha1, acc[0][n][i] * kWeightProductFix,
                                                         acc[NA - 1][n][i] * kWeightProductFix);
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
        store_fc1_codes(p, slot, n_first, make_uint2(q.codes[0], q.codes[1]), q.scale);
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

template <int TN, int KS, bool kFp4B>
__global__ void __launch_bounds__(kGemmThreads) moe_fc2_kernel(MoeParams p, int32_t persistent) {
  constexpr int kRows = rows_per_cta(KS);
  __shared__ float stage[kGemmWarps][TN][kStagePitch];
  __shared__ SplitReduction<KS, 1, TN> split;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  const int32_t row_tiles = (p.hidden + kRows - 1) / kRows;
  WorkItem w;
  for (int32_t round = 0; next_work_item(p, persistent, 1, round, row_tiles, kRows, w); ++round) {
    const int32_t h_first = w.row0 + (warp / KS) * kRowsPerWarp;
    const bool rows_valid = h_first < p.hidden;
    const int32_t rows[1][2] = {{rows_valid ? h_first + g : -1, rows_valid ? h_first + g + 8 : -1}};
    WeightOperand<1> wo;
    wo.bind(p.w2 + static_cast<int64_t>(w.expert) * p.hidden * (p.intermediate / 2), p.w2_scales, p.w2_sa, w.expert,
            p.intermediate, rows);
    float acc[1][TN / 8][4];
#pragma unroll
    for (int n = 0; n < TN / 8; ++n) acc[0][n][0] = acc[0][n][1] = acc[0][n][2] = acc[0][n][3] = 0.0f;
    gemm_mainloop<TN, 1, kFp4B, (TN <= 32)>(wo, token_operand<TN, kFp4B>(p, w, p.intermediate, false), warp % KS, KS,
                                            acc);
    split.reduce(acc);
    if (warp % KS != 0 || !rows_valid) continue;

    const float alpha2 = p.alpha2(w.expert);
#pragma unroll
    for (int n = 0; n < TN / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int row = g + (i >= 2 ? 8 : 0), token = n * 8 + 2 * c + (i & 1);
        stage[warp][token][row] = acc[0][n][i] * kWeightProductFix;
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

namespace {

template <int TN, int KS>
cudaError_t launch_for_tile(const MoeParams& p, bool persistent, int32_t sms, cudaStream_t stream, const char** step) {
  constexpr int kRows = rows_per_cta(KS);
  void (*fc1)(MoeParams, int32_t) =
      p.gated ? (p.nvfp4 ? moe_fc1_kernel<TN, KS, true, true> : moe_fc1_kernel<TN, KS, true, false>)
              : (p.nvfp4 ? moe_fc1_kernel<TN, KS, false, true> : moe_fc1_kernel<TN, KS, false, false>);
  void (*fc2)(MoeParams, int32_t) = p.nvfp4 ? moe_fc2_kernel<TN, KS, true> : moe_fc2_kernel<TN, KS, false>;
  int64_t fc1_grid = gemm_work_items(p, TN, kRows, p.intermediate);
  int64_t fc2_grid = gemm_work_items(p, TN, kRows, p.hidden);
  cudaError_t e;
  if (persistent) {
    *step = "occupancy query";
    if ((e = persistent_grid(fc1, kGemmThreads, 0, sms, fc1_grid, &fc1_grid)) != cudaSuccess) return e;
    if ((e = persistent_grid(fc2, kGemmThreads, 0, sms, fc2_grid, &fc2_grid)) != cudaSuccess) return e;
  }
  *step = "FC1 launch";
  fc1<<<static_cast<unsigned>(fc1_grid), kGemmThreads, 0, stream>>>(p, persistent ? 1 : 0);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  *step = "FC2 launch";
  fc2<<<static_cast<unsigned>(fc2_grid), kGemmThreads, 0, stream>>>(p, persistent ? 1 : 0);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_moe_gemms(const MoeParams& p, int32_t tn, bool persistent, int32_t sms, cudaStream_t stream,
                             const char** step) {
  switch (tn) {
    case kStaticTokenTile: return launch_for_tile<kStaticTokenTile, kStaticKSplit>(p, persistent, sms, stream, step);
    case kDynamicTokenTile: return launch_for_tile<kDynamicTokenTile, kDynamicKSplit>(p, persistent, sms, stream, step);
    default: *step = "GEMM launch (token tile)"; return cudaErrorInvalidValue;
  }
}

}  // namespace b12x
