// CTA = 4 warps along the weight rows over a tile of 128 weight rows x TN tokens (every warp takes all TN tokens,
// so each dequantised weight fragment feeds TN / 8 MMAs):
//   FC1 silu : 64 features = up rows [n0, n0+64) and gate rows [I+n0, I+n0+64); warp m holds up and gate of 16
//              features, so the activation stays in the lane that accumulated both halves.
//   FC1 relu2: 128 features; FC2: 128 hidden rows; warp m holds two consecutive 16-row MMA tiles.
// K advances 64 elements (4 scale blocks) per pipeline step. Each stage holds the weight codes (128 x 32 B) and
// their 4 scales per row, and the tokens' codes + scales (NVFP4) or bf16 values (W4A16), copied with cp.async
// kStages - 1 steps ahead. NVFP4 token blocks are dequantised once per CTA into a bf16 tile (double buffered) in
// the block order of e2m1_bf16.cuh, which all 4 row-warps read with one 8-byte load per token and k-step; weights
// are dequantised in registers exactly as in grouped_gemm_sm80.cuh (lane column c owns block c of the step). W4A16
// token blocks stay in natural order in the stage and are reordered in registers.
#include "moe_gemm_tiled.cuh"

#include <algorithm>
#include "fc_epilogue.cuh"
#include "../common/cp_async.cuh"
#include "../common/nvfp4_block.cuh"
#include "../common/tile_shapes.h"
#include "grouped_gemm_sm80.cuh"

namespace b12x {
namespace {

constexpr int kThreads = 128;
constexpr int kWarpsM = 4;
constexpr int kWarpsN = 1;
constexpr int kRowsA = 128;             // weight rows staged per step
constexpr int kStepBlocks = 4;          // 4 x 16 = 64 K elements per step
constexpr int kCodeBytes = kStepBlocks * 8;
constexpr int kValuePitch = 64 + 8;     // bf16 per token row of a B tile: 64 values + 16 B against bank conflicts
static_assert(kThreads == 32 * kWarpsM * kWarpsN, "warp grid");
// CTAs per SM the register budget is sized for: 4 x 46 KB of shared memory fit an SM's 228 KB, so registers (at most
// 65536 / (4 x 128) = 128 per thread) would otherwise be the limit.
constexpr int kTiledBlocksPerSm = 4;

template <int TN, bool kFp4B>
struct TiledLayout {
  static constexpr int kStages = kFp4B ? 4 : 3;  // both fit the 48 KB of static shared memory
  static constexpr int kACodes = 0;
  static constexpr int kAScales = kACodes + kRowsA * kCodeBytes;
  static constexpr int kB = kAScales + kRowsA * kStepBlocks;
  static constexpr int kBScales = kB + TN * kCodeBytes;                         // FP4 only
  static constexpr int kStageBytes = kFp4B ? kBScales + TN * kStepBlocks : kB + TN * kValuePitch * 2;
  static constexpr int kDequant = kStages * kStageBytes;                        // FP4: bf16 [2][TN][kValuePitch]
  static constexpr int kPipelineBytes = kDequant + (kFp4B ? 2 * TN * kValuePitch * 2 : 0);
  static constexpr int kEpilogueBytes = kWarpsM * kWarpsN * (TN / kWarpsN) * 33 * 4;
  static constexpr int kBytes = kPipelineBytes > kEpilogueBytes ? kPipelineBytes : kEpilogueBytes;
  static_assert(kBytes + sizeof(int32_t) <= 48 * 1024, "static shared memory budget");
  static_assert(kTiledBlocksPerSm * (kBytes + 1024) <= 228 * 1024, "kTiledBlocksPerSm CTAs share an SM's 228 KB");
  static_assert(kStageBytes % 16 == 0 && kB % 16 == 0 && kDequant % 16 == 0, "16-byte aligned planes");
};

template <int TN, bool kFc1, bool kGated, bool kFp4B>
struct TiledKernel {
  using L = TiledLayout<TN, kFp4B>;
  static constexpr int kFeatures = (kFc1 && kGated) ? 64 : 128;  // output rows (features) per work item
  static constexpr int kTokensPerWarp = TN / kWarpsN;
  static constexpr int kNTiles = kTokensPerWarp / 8;
  static constexpr int kWarpFeatures = (kFc1 && kGated) ? 16 : 32;

  const MoeParams& p;
  unsigned char* smem;
  WorkItem w;
  int32_t k;          // reduction length
  int32_t k_blocks;
  int32_t n_rows;     // valid rows of the output dimension (I or H)
  const uint8_t* codes;   // this expert's weight matrix
  const uint8_t* scales;
  ScaleAddressing sa;
  // This thread's copies of each step (see bind_sources): the code bytes of (row, block) = (tid/4 + 64j, tid%4) and,
  // for tid < kRowsA, the 4 scale bytes of row tid, all at K step 0; nullptr for rows past the matrix.
  const uint8_t* a_src[kRowsA * kStepBlocks / kThreads];
  const uint8_t* a_scale_src;
  int32_t scale_step;     // scale bytes per K step

  // Global weight row of staged row i, or -1 when past the matrix.
  __device__ __forceinline__ int32_t weight_row(int32_t i) const {
    if constexpr (kFc1 && kGated) {
      const int32_t feature = w.row0 + (i & 63);
      return feature < n_rows ? (i < 64 ? feature : n_rows + feature) : -1;
    } else {
      const int32_t row = w.row0 + i;
      return row < n_rows ? row : -1;
    }
  }

  // Weight sources of this thread for the work item: the (row, block) pairs it copies are the same in every step.
  __device__ __forceinline__ void bind_sources() {
    const int32_t row_bytes = k / 2;
#pragma unroll
    for (int j = 0; j < kRowsA * kStepBlocks / kThreads; ++j) {
      const int32_t i = threadIdx.x + j * kThreads, row = weight_row(i / kStepBlocks);
      a_src[j] = row >= 0 ? codes + static_cast<int64_t>(row) * row_bytes + (i % kStepBlocks) * 8 : nullptr;
    }
    const int32_t row = threadIdx.x < kRowsA ? weight_row(threadIdx.x) : -1;
    a_scale_src = row >= 0 ? scales + sa.offset(w.expert, row, 0) : nullptr;
    scale_step = sa.four_block_stride();
  }

  __device__ __forceinline__ void issue(int stage, int32_t step) const {
    unsigned char* st = smem + stage * L::kStageBytes;
    const int32_t kb0 = step * kStepBlocks;
    const int32_t row_bytes = k / 2;
#pragma unroll
    for (int j = 0; j < kRowsA * kStepBlocks / kThreads; ++j) {
      const int32_t i = threadIdx.x + j * kThreads;
      const bool valid = a_src[j] != nullptr && kb0 + i % kStepBlocks < k_blocks;
      cp_async8(st + L::kACodes + i * 8, valid ? a_src[j] + step * kCodeBytes : codes, valid);
    }
    if (threadIdx.x < kRowsA) {
      const bool valid = a_scale_src != nullptr && kb0 < k_blocks;
      cp_async4(st + L::kAScales + threadIdx.x * 4, valid ? a_scale_src + step * scale_step : scales, valid);
    }
    // Tokens past the tile's slots are not copied: their columns of the MMA tiles are computed but never written.
    if constexpr (kFp4B) {
      const uint8_t* b_codes = kFc1 ? p.xq_codes : p.aq_codes;
      const uint8_t* b_scales = kFc1 ? p.xq_scales : p.aq_scales;
      const int32_t pitch = scale_row_pitch(k);
      for (int i = threadIdx.x; i < w.slots * kStepBlocks; i += kThreads) {
        const int32_t token = i / kStepBlocks, kb = kb0 + i % kStepBlocks;
        const bool valid = kb < k_blocks;
        const int64_t slot = w.first_slot + token;
        cp_async8(st + L::kB + i * 8, valid ? b_codes + slot * row_bytes + kb * 8 : b_codes, valid);
      }
      for (int i = threadIdx.x; i < w.slots; i += kThreads) {
        const bool valid = kb0 < k_blocks;
        cp_async4(st + L::kBScales + i * 4, valid ? b_scales + static_cast<int64_t>(w.first_slot + i) * pitch + kb0 : b_scales,
                  valid);
      }
    } else {
      for (int i = threadIdx.x; i < w.slots * 8; i += kThreads) {
        const int32_t token = i / 8, element = kb0 * 16 + (i % 8) * 8;
        const bool valid = element < k;
        const __nv_bfloat16* src = p.x;
        if (valid) {
          const int32_t slot = w.first_slot + token;
          src = kFc1 ? p.x + static_cast<int64_t>(p.slot_pair[slot] / p.top_k) * k + element
                     : p.a_bf16 + static_cast<int64_t>(slot) * k + element;
        }
        cp_async16(st + L::kB + (token * kValuePitch + (i % 8) * 8) * 2, src, valid);
      }
    }
    cp_async_commit();
  }

  // NVFP4 tokens: codes x scale -> bf16 [TN][kValuePitch], one 16-element block per thread.
  __device__ __forceinline__ void dequantize_tokens(int stage, int32_t step, __nv_bfloat16* dst) const {
    const unsigned char* st = smem + stage * L::kStageBytes;
    for (int i = threadIdx.x; i < w.slots * kStepBlocks; i += kThreads) {
      const int token = i / kStepBlocks, block = i % kStepBlocks;
      const bool valid = step * kStepBlocks + block < k_blocks;  // padding scale bytes are never trusted
      const uint2 raw = *reinterpret_cast<const uint2*>(st + L::kB + i * 8);
      const uint32_t scale = valid ? e4m3_to_bf16x2(st[L::kBScales + i]) : 0u;
      uint32_t v[8];
      dequantize_block_ordered(raw, scale, v);
      uint4* out = reinterpret_cast<uint4*>(dst + token * kValuePitch + block * 16);
      out[0] = make_uint4(v[0], v[1], v[2], v[3]);
      out[1] = make_uint4(v[4], v[5], v[6], v[7]);
    }
  }

  // Staged row (0..127) of this warp's MMA tile t and lane row r (g or g+8).
  __device__ __forceinline__ int staged_row(int wm, int t, int r) const {
    return (kFc1 && kGated) ? t * 64 + wm * 16 + r : wm * 32 + t * 16 + r;
  }

  __device__ __forceinline__ void compute(int stage, int32_t step, const __nv_bfloat16* values,
                                          float (&acc)[2][kNTiles][4]) const {
    const unsigned char* st = smem + stage * L::kStageBytes;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    const int wm = warp % kWarpsM, wn = warp / kWarpsM;
    // N tiles of this warp holding at least one of the tile's tokens (warp-uniform); none: nothing to compute.
    const int active = min(kNTiles, (w.slots - wn * kTokensPerWarp + 7) / 8);
    if (active <= 0) return;
    const bool k_valid = step * kStepBlocks + c < k_blocks;
    WeightStep<2> weights;  // MMA tiles t = 0, 1 of this warp, rows g and g+8
#pragma unroll
    for (int t = 0; t < 2; ++t) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = staged_row(wm, t, g + 8 * r);
        weights.raw[t][r] = *reinterpret_cast<const uint2*>(st + L::kACodes + row * kCodeBytes + c * 8);
        weights.scale[t][r] = k_valid ? weight_scale_bf16x2(st[L::kAScales + row * 4 + c]) : 0u;
      }
    }
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      uint32_t b0[kNTiles], b1[kNTiles];
#pragma unroll
      for (int n = 0; n < kNTiles; ++n) {
        const __nv_bfloat16* block = values + (wn * kTokensPerWarp + n * 8 + g) * kValuePitch + 16 * c;
        if (n >= active) {
          b0[n] = b1[n] = 0u;
        } else if constexpr (kFp4B) {
          const uint2 v = *reinterpret_cast<const uint2*>(block + 4 * s);
          b0[n] = v.x;
          b1[n] = v.y;
        } else {
          const uint32_t* natural = reinterpret_cast<const uint32_t*>(block);
          b0[n] = ordered_pair(natural, 2 * s);
          b1[n] = ordered_pair(natural, 2 * s + 1);
        }
      }
      mma_weight_step(weights, s, b0, b1, acc, active);
    }
  }

  __device__ void mainloop(float (&acc)[2][kNTiles][4]) const {
    const int32_t steps = (k_blocks + kStepBlocks - 1) / kStepBlocks;
#pragma unroll
    for (int s = 0; s < L::kStages - 1; ++s) {
      if (s < steps) issue(s, s); else cp_async_commit();
    }
    __nv_bfloat16* dequant = reinterpret_cast<__nv_bfloat16*>(smem + L::kDequant);
    for (int32_t step = 0; step < steps; ++step) {
      cp_async_wait<L::kStages - 2>();
      __syncthreads();  // this step's stage is visible to all; the stage refilled below is no longer read
      const int32_t next = step + L::kStages - 1;
      if (next < steps) issue(next % L::kStages, next); else cp_async_commit();
      const int stage = step % L::kStages;
      const __nv_bfloat16* values;
      if constexpr (kFp4B) {
        __nv_bfloat16* buffer = dequant + (step & 1) * TN * kValuePitch;
        dequantize_tokens(stage, step, buffer);
        __syncthreads();
        values = buffer;
      } else {
        values = reinterpret_cast<const __nv_bfloat16*>(smem + stage * L::kStageBytes + L::kB);
      }
      compute(stage, step, values, acc);
    }
    cp_async_wait<0>();
    __syncthreads();  // the pipeline's shared memory becomes the epilogue's
  }

  // Writes the warp's results: FC1 -> activation, bf16, FC2-input codes or bf16; FC2 -> y rows.
  __device__ void epilogue(float (&acc)[2][kNTiles][4]) const {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    const int wm = warp % kWarpsM, wn = warp / kWarpsM;
    float* stage = reinterpret_cast<float*>(smem) + warp * kTokensPerWarp * 33;  // [token][feature], pitch 33
    const int32_t feature0 = w.row0 + wm * kWarpFeatures;
    const float alpha = kFc1 ? p.alpha1(w.expert) : p.alpha2(w.expert);
#pragma unroll
    for (int n = 0; n < kNTiles; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int row = g + (i >= 2 ? 8 : 0), token = n * 8 + 2 * c + (i & 1);
        if constexpr (kFc1 && kGated) {
          stage[token * 33 + row] =
              fc1_activation<true>(alpha, acc[0][n][i] * kWeightProductFix, acc[1][n][i] * kWeightProductFix);
        } else {
#pragma unroll
          for (int t = 0; t < 2; ++t) {
            const float sum = acc[t][n][i] * kWeightProductFix;
            const float v = kFc1 ? fc1_activation<false>(alpha, sum, sum) : sum;
            stage[token * 33 + t * 16 + row] = v;
          }
        }
      }
    }
    __syncwarp();
    for (int token = lane; token < kTokensPerWarp; token += 32) {
      const int32_t local = wn * kTokensPerWarp + token;
      if (local < w.slots) {
        const int64_t slot = w.first_slot + local;
        const float* v = stage + token * 33;
        if constexpr (kFc1) {
#pragma unroll
          for (int b = 0; b < kWarpFeatures / 16; ++b) {
            const int32_t f = feature0 + 16 * b;
            if (f >= n_rows) continue;
            float block[16];
#pragma unroll
            for (int i = 0; i < 16; ++i) block[i] = v[16 * b + i];
            store_fc1_block<kFp4B>(p, slot, w.expert, f, block);
          }
        } else {
          const int32_t pair = p.slot_pair[slot];
          const float scale = __fmul_rn(p.routing_weights[pair], alpha);
          float* y = p.y + static_cast<int64_t>(pair) * p.hidden;
#pragma unroll
          for (int b = 0; b < 2; ++b) {
            const int32_t h = feature0 + 16 * b;
            if (h >= n_rows) continue;
            float4* dst = reinterpret_cast<float4*>(y + h);
#pragma unroll
            for (int q = 0; q < 4; ++q) {
              dst[q] = make_float4(__fmul_rn(scale, v[16 * b + 4 * q]), __fmul_rn(scale, v[16 * b + 4 * q + 1]),
                                   __fmul_rn(scale, v[16 * b + 4 * q + 2]), __fmul_rn(scale, v[16 * b + 4 * q + 3]));
            }
          }
        }
      }
    }
    __syncthreads();  // the staging area is the next work item's pipeline
  }
};

template <int TN, bool kFc1, bool kGated, bool kFp4B>
__global__ void __launch_bounds__(kThreads, kTiledBlocksPerSm) moe_tiled_kernel(MoeParams p, int32_t persistent) {
  using K = TiledKernel<TN, kFc1, kGated, kFp4B>;
  __shared__ alignas(16) unsigned char smem[TiledLayout<TN, kFp4B>::kBytes];
  __shared__ int32_t claimed;
  const int32_t n_rows = kFc1 ? p.intermediate : p.hidden;
  const int32_t row_tiles = (n_rows + K::kFeatures - 1) / K::kFeatures;
  for (int32_t round = 0;; ++round) {
    int32_t item;
    if (persistent) {
      __syncthreads();
      if (threadIdx.x == 0) claimed = atomicAdd(&p.queue_heads[kFc1 ? 0 : 1], 1);
      __syncthreads();
      item = claimed;
    } else {
      if (round > 0) break;
      item = blockIdx.x;
    }
    K kernel{p, smem};
    if (!decode_work_item(p, item, row_tiles, TN, K::kFeatures, kernel.w)) break;
    kernel.k = kFc1 ? p.hidden : p.intermediate;
    kernel.k_blocks = kernel.k / 16;
    kernel.n_rows = n_rows;
    kernel.codes = kFc1 ? p.w1 + static_cast<int64_t>(kernel.w.expert) * p.w1_rows * (p.hidden / 2)
                        : p.w2 + static_cast<int64_t>(kernel.w.expert) * p.hidden * (p.intermediate / 2);
    kernel.scales = kFc1 ? p.w1_scales : p.w2_scales;
    kernel.sa = kFc1 ? p.w1_sa : p.w2_sa;
    kernel.bind_sources();
    float acc[2][K::kNTiles][4];
#pragma unroll
    for (int t = 0; t < 2; ++t)
#pragma unroll
      for (int n = 0; n < K::kNTiles; ++n) acc[t][n][0] = acc[t][n][1] = acc[t][n][2] = acc[t][n][3] = 0.0f;
    kernel.mainloop(acc);
    kernel.epilogue(acc);
  }
}

template <int TN>
cudaError_t launch_tiled(const MoeParams& p, bool persistent, int32_t sms, cudaStream_t stream, const char** step) {
  const int64_t pairs = static_cast<int64_t>(p.tokens) * p.top_k;
  const int64_t tiles = (pairs + TN - 1) / TN + std::min<int64_t>(p.local_experts, pairs);
  const int32_t fc1_features = p.gated ? 64 : 128;
  const int64_t fc1_items = tiles * ((p.intermediate + fc1_features - 1) / fc1_features);
  const int64_t fc2_items = tiles * ((p.hidden + 127) / 128);
  void (*fc1)(MoeParams, int32_t) =
      p.gated ? (p.nvfp4 ? moe_tiled_kernel<TN, true, true, true> : moe_tiled_kernel<TN, true, true, false>)
              : (p.nvfp4 ? moe_tiled_kernel<TN, true, false, true> : moe_tiled_kernel<TN, true, false, false>);
  void (*fc2)(MoeParams, int32_t) = p.nvfp4 ? moe_tiled_kernel<TN, false, false, true> : moe_tiled_kernel<TN, false, false, false>;
  int64_t fc1_grid = fc1_items, fc2_grid = fc2_items;
  cudaError_t e;
  if (persistent) {
    int per_sm1 = 0, per_sm2 = 0;
    *step = "occupancy query";
    if ((e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm1, fc1, kThreads, 0)) != cudaSuccess) return e;
    if ((e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm2, fc2, kThreads, 0)) != cudaSuccess) return e;
    fc1_grid = std::min<int64_t>(fc1_items, static_cast<int64_t>(sms) * std::max(per_sm1, 1));
    fc2_grid = std::min<int64_t>(fc2_items, static_cast<int64_t>(sms) * std::max(per_sm2, 1));
  }
  *step = "tiled FC1 launch";
  fc1<<<static_cast<unsigned>(fc1_grid), kThreads, 0, stream>>>(p, persistent ? 1 : 0);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  *step = "tiled FC2 launch";
  fc2<<<static_cast<unsigned>(fc2_grid), kThreads, 0, stream>>>(p, persistent ? 1 : 0);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_moe_gemms_tiled(const MoeParams& p, int32_t tn, bool persistent, int32_t sms, cudaStream_t stream,
                                   const char** step) {
  switch (tn) {
    case kStaticTokenTile: return launch_tiled<kStaticTokenTile>(p, persistent, sms, stream, step);
    case kDynamicTokenTile: return launch_tiled<kDynamicTokenTile>(p, persistent, sms, stream, step);
    default: *step = "tiled GEMM launch (token tile)"; return cudaErrorInvalidValue;
  }
}

}  // namespace b12x
