#include "moe_micro.cuh"

#include "../common/nvfp4_block.cuh"
#include "../common/tile_shapes.h"
#include "../dispatch/kernel_facts.h"
#include "grouped_gemm_sm80.cuh"
#include "fc_epilogue.cuh"
#include "moe_micro_nvfp4.cuh"

namespace b12x {
namespace {

constexpr int KS = kMicroKSplit;
static_assert(KS == kGemmWarps, "one 16-row group per CTA: every warp splits K");

// The operand row in shared memory: bf16, each 16-element block in block order (e2m1_bf16.cuh), zero-padded to whole
// K steps.
__host__ __device__ constexpr int32_t padded_row(int32_t k) { return (k + 63) / 64 * 64; }

// Weight loads of kMicroStepsInFlight steps first, then their MMAs; B comes from the shared row (every lane reads
// the token's values: columns other than 0 of the n8 tile are ignored, since MMA columns are independent).
template <int NA>
__device__ __forceinline__ void micro_mainloop(const WeightOperand<NA>& wo, const __nv_bfloat16* row,
                                               float (&acc)[NA][1][4]) {
  const int warp = threadIdx.x >> 5, c = threadIdx.x & 3;
  const int32_t k_blocks = wo.k_blocks;
  const int32_t steps = (k_blocks + kBlocksPerStep - 1) / kBlocksPerStep;
  for (int32_t first = warp; first < steps; first += KS * kMicroStepsInFlight) {
    WeightStep<NA> ws[kMicroStepsInFlight];
#pragma unroll
    for (int u = 0; u < kMicroStepsInFlight; ++u) {
      const int32_t step = first + u * KS;
      load_weight_step(wo, step, step * kBlocksPerStep + c < k_blocks, ws[u]);
    }
#pragma unroll
    for (int u = 0; u < kMicroStepsInFlight; ++u) {
      const int32_t step = first + u * KS;
      if (step >= steps) break;  // uniform across the warp
      const __nv_bfloat16* block = row + (step * kBlocksPerStep + c) * 16;
      decode_weight_scales(ws[u]);
#pragma unroll
      for (int s = 0; s < 4; ++s) {
        const uint2 v = *reinterpret_cast<const uint2*>(block + 4 * s);
        const uint32_t b0[1] = {v.x}, b1[1] = {v.y};
        mma_weight_step(ws[u], s, b0, b1, acc);
      }
    }
  }
}

// Writes 16 bf16 values (as fp32 pairs of a block) into the shared row at element 16 * block.
__device__ __forceinline__ void store_block_bf16(__nv_bfloat16* row, int32_t block, const uint32_t (&pairs)[8]) {
  uint4* dst = reinterpret_cast<uint4*>(row + 16 * block);
  dst[0] = make_uint4(pairs[0], pairs[1], pairs[2], pairs[3]);
  dst[1] = make_uint4(pairs[4], pairs[5], pairs[6], pairs[7]);
}

// FC1 input of a pair: step-1 quantised x (NVFP4, bit-identical to the quantiser kernel) or x itself (W4A16).
template <bool kFp4>
__device__ void stage_fc1_input(const MoeParams& p, int32_t pair, int32_t l, __nv_bfloat16* row) {
  const __nv_bfloat16* x = p.x + static_cast<int64_t>(pair / p.top_k) * p.hidden;
  const int32_t blocks = p.hidden / 16, padded_blocks = padded_row(p.hidden) / 16;
  const float gs1 = kFp4 ? p.input_scale(l) : 0.0f;
  for (int32_t b = threadIdx.x; b < padded_blocks; b += blockDim.x) {
    uint32_t pairs[8] = {};
    if (b < blocks) {
      const uint4* src = reinterpret_cast<const uint4*>(x + 16 * b);
      const uint4 lo = src[0], hi = src[1];
      const uint32_t raw[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
      if constexpr (kFp4) {
        float v[16];
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          v[2 * j] = __uint_as_float(raw[j] << 16);
          v[2 * j + 1] = __uint_as_float(raw[j] & 0xFFFF0000u);
        }
        const QuantizedBlock q = quantize_block16(v, gs1);
        dequantize_block_ordered(make_uint2(q.codes[0], q.codes[1]), bf16x2_broadcast(q.q), pairs);
      } else {
        order_block(raw, pairs);
      }
    }
    store_block_bf16(row, b, pairs);
  }
}

// FC2 input of a pair: its stored codes x block scale (NVFP4) or its bf16 row (W4A16).
template <bool kFp4>
__device__ void stage_fc2_input(const MoeParams& p, int32_t pair, __nv_bfloat16* row) {
  const int32_t blocks = p.intermediate / 16, padded_blocks = padded_row(p.intermediate) / 16;
  for (int32_t b = threadIdx.x; b < padded_blocks; b += blockDim.x) {
    uint32_t pairs[8] = {};
    if (b < blocks) {
      if constexpr (kFp4) {
        const uint2 codes = *reinterpret_cast<const uint2*>(p.aq_codes + static_cast<int64_t>(pair) * (p.intermediate / 2) + 8 * b);
        const uint32_t scale = e4m3_to_bf16x2(p.aq_scales[static_cast<int64_t>(pair) * scale_row_pitch(p.intermediate) + b]);
        dequantize_block_ordered(codes, scale, pairs);
      } else {
        const uint4* src = reinterpret_cast<const uint4*>(p.a_bf16 + static_cast<int64_t>(pair) * p.intermediate + 16 * b);
        const uint4 lo = src[0], hi = src[1];
        const uint32_t natural[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        order_block(natural, pairs);
      }
    }
    store_block_bf16(row, b, pairs);
  }
}

template <bool kGated, bool kFp4>
__global__ void __launch_bounds__(kGemmThreads) moe_micro_fc1(MoeParams p) {
  constexpr int NA = kGated ? 2 : 1;
  extern __shared__ __align__(16) unsigned char dynamic_smem[];
  __shared__ SplitReduction<KS, NA, 8> split;
  __shared__ float activations[kRowsPerWarp];
  const int32_t row_groups = p.intermediate / kRowsPerWarp;
  const int32_t pair = blockIdx.x / row_groups;
  const int32_t n_first = (blockIdx.x % row_groups) * kRowsPerWarp;
  const int32_t l = p.local_expert_of(pair);
  if (l < 0) return;  // the whole CTA leaves together
  __nv_bfloat16* row = reinterpret_cast<__nv_bfloat16*>(dynamic_smem);
  stage_fc1_input<kFp4>(p, pair, l, row);
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  int32_t rows[NA][2];
#pragma unroll
  for (int a = 0; a < NA; ++a) {
    rows[a][0] = a * p.intermediate + n_first + g;
    rows[a][1] = a * p.intermediate + n_first + g + 8;
  }
  WeightOperand<NA> wo;
  wo.bind(p.w1 + static_cast<int64_t>(l) * p.w1_rows * (p.hidden / 2), p.w1_scales, p.w1_sa, l, p.hidden, rows);
  float acc[NA][1][4] = {};
  micro_mainloop(wo, row, acc);
  split.reduce(acc);
  if (warp != 0) return;
  if (c == 0) {  // column 0 = the token: rows g (register 0) and g + 8 (register 2)
    const float alpha1 = p.alpha1(l);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      activations[g + 8 * r] = fc1_activation<kGated>(alpha1, acc[0][0][2 * r] * kWeightProductFix,
                                                            acc[NA - 1][0][2 * r] * kWeightProductFix);
    }
  }
  __syncwarp();
  if (lane != 0) return;
  float v[16];
#pragma unroll
  for (int i = 0; i < 16; ++i) v[i] = activations[i];
  store_fc1_block<kFp4>(p, pair, l, n_first, v);
}

template <bool kFp4>
__global__ void __launch_bounds__(kGemmThreads) moe_micro_fc2(MoeParams p) {
  extern __shared__ __align__(16) unsigned char dynamic_smem[];
  __shared__ SplitReduction<KS, 1, 8> split;
  const int32_t row_groups = p.hidden / kRowsPerWarp;
  const int32_t pair = blockIdx.x / row_groups;
  const int32_t h_first = (blockIdx.x % row_groups) * kRowsPerWarp;
  const int32_t l = p.local_expert_of(pair);
  if (l < 0) return;
  __nv_bfloat16* row = reinterpret_cast<__nv_bfloat16*>(dynamic_smem);
  stage_fc2_input<kFp4>(p, pair, row);
  __syncthreads();
  const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2, c = threadIdx.x & 3;
  const int32_t rows[1][2] = {{h_first + g, h_first + g + 8}};
  WeightOperand<1> wo;
  wo.bind(p.w2 + static_cast<int64_t>(l) * p.hidden * (p.intermediate / 2), p.w2_scales, p.w2_sa, l, p.intermediate, rows);
  float acc[1][1][4] = {};
  micro_mainloop(wo, row, acc);
  split.reduce(acc);
  if (warp != 0 || c != 0) return;
  store_fc2_row(p, pair, l, h_first + g, acc[0][0][0] * kWeightProductFix);
  store_fc2_row(p, pair, l, h_first + g + 8, acc[0][0][2] * kWeightProductFix);
}

using MicroKernel = void (*)(MoeParams);

MicroKernel micro_fc1_of(bool gated, bool nvfp4) {
  return gated ? (nvfp4 ? moe_micro_fc1<true, true> : moe_micro_fc1<true, false>)
               : (nvfp4 ? moe_micro_fc1<false, true> : moe_micro_fc1<false, false>);
}

MicroKernel micro_fc2_of(bool nvfp4) { return nvfp4 ? moe_micro_fc2<true> : moe_micro_fc2<false>; }

}  // namespace

cudaError_t micro_shared_bytes(int32_t hidden, int32_t intermediate, bool gated, bool nvfp4, size_t* bytes) {
  if (micro_block_sums_apply(nvfp4, hidden, intermediate)) return micro_nvfp4_shared_bytes(hidden, intermediate, gated, bytes);
  size_t fc1 = 0, fc2 = 0;
  cudaError_t e = static_shared_bytes(reinterpret_cast<const void*>(micro_fc1_of(gated, nvfp4)), &fc1);
  if (e == cudaSuccess) e = static_shared_bytes(reinterpret_cast<const void*>(micro_fc2_of(nvfp4)), &fc2);
  if (e != cudaSuccess) return e;
  const size_t first = fc1 + static_cast<size_t>(padded_row(hidden)) * 2;
  const size_t second = fc2 + static_cast<size_t>(padded_row(intermediate)) * 2;
  *bytes = first > second ? first : second;
  return cudaSuccess;
}

cudaError_t launch_moe_micro(const MoeParams& p, bool pdl, int32_t sms, cudaStream_t stream, const char** step) {
  if (micro_block_sums_apply(p.nvfp4, p.hidden, p.intermediate)) return launch_moe_micro_nvfp4(p, pdl, sms, stream, step);
  const int64_t pairs = static_cast<int64_t>(p.tokens) * p.top_k;
  const unsigned fc1_grid = static_cast<unsigned>(pairs * (p.intermediate / kRowsPerWarp));
  const unsigned fc2_grid = static_cast<unsigned>(pairs * (p.hidden / kRowsPerWarp));
  const size_t fc1_smem = static_cast<size_t>(padded_row(p.hidden)) * 2;
  const size_t fc2_smem = static_cast<size_t>(padded_row(p.intermediate)) * 2;
  const MicroKernel fc1 = micro_fc1_of(p.gated, p.nvfp4), fc2 = micro_fc2_of(p.nvfp4);
  cudaError_t e;
  *step = "micro shared-memory opt-in";
  if ((e = allow_dynamic_shared(reinterpret_cast<const void*>(fc1), fc1_smem)) != cudaSuccess ||
      (e = allow_dynamic_shared(reinterpret_cast<const void*>(fc2), fc2_smem)) != cudaSuccess) {
    return e;
  }
  *step = "micro FC1 launch";
  fc1<<<fc1_grid, kGemmThreads, fc1_smem, stream>>>(p);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  *step = "micro FC2 launch";
  fc2<<<fc2_grid, kGemmThreads, fc2_smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace b12x
