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

#include "../common/tile_shapes.h"
#include "fc_epilogue.cuh"
#include "gemm_grid.cuh"
#include "tile_stage.cuh"

namespace b12x {
namespace {

constexpr int kThreads = 128;
constexpr int kWarpsM = 4;
static_assert(kThreads == 32 * kWarpsM, "warp grid");
// CTAs per SM the register budget is sized for: 4 x 46 KB of shared memory fit an SM's 228 KB, so registers (at most
// 65536 / (4 x 128) = 128 per thread) would otherwise be the limit.
constexpr int kTiledBlocksPerSm = 4;

template <int TN, bool kFp4B>
struct TiledLayout {
  using Stage = StageLayout<TN, kFp4B>;
  static constexpr int kStages = kFp4B ? 4 : 3;  // both fit the 48 KB of static shared memory
  static constexpr int kDequant = kStages * Stage::kBytes;                      // FP4: bf16 [2][TN][kStageValuePitch]
  static constexpr int kPipelineBytes = kDequant + (kFp4B ? 2 * TN * kStageValuePitch * 2 : 0);
  static constexpr int kEpilogueBytes = kWarpsM * TN * 33 * 4;
  static constexpr int kBytes = kPipelineBytes > kEpilogueBytes ? kPipelineBytes : kEpilogueBytes;
  static_assert(kBytes + sizeof(int32_t) <= 48 * 1024, "static shared memory budget");
  static_assert(kTiledBlocksPerSm * (kBytes + 1024) <= 228 * 1024, "kTiledBlocksPerSm CTAs share an SM's 228 KB");
  static_assert(kDequant % 16 == 0, "16-byte aligned planes");
};

template <int TN, bool kFc1, bool kGated, bool kFp4B>
struct TiledKernel {
  using L = TiledLayout<TN, kFp4B>;
  using Stager = TileStager<TN, kFc1, kGated, kFp4B>;
  static constexpr int kNTiles = TN / 8;
  static constexpr int kWarpFeatures = (kFc1 && kGated) ? 16 : 32;

  Stager in;
  unsigned char* smem;

  // NVFP4 tokens: codes x scale -> bf16 [TN][kStageValuePitch], one 16-element block per thread.
  __device__ __forceinline__ void dequantize_tokens(int stage, int32_t step, __nv_bfloat16* dst) const {
    const unsigned char* st = smem + stage * L::Stage::kBytes;
    for (int i = threadIdx.x; i < in.w.slots * kStageBlocks; i += kThreads) {
      const int token = i / kStageBlocks, block = i % kStageBlocks;
      uint32_t v[8];
      in.dequantize_token_block(st, step, token, block, v);
      uint4* out = reinterpret_cast<uint4*>(dst + token * kStageValuePitch + block * 16);
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
    const unsigned char* st = smem + stage * L::Stage::kBytes;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    // N tiles holding at least one of the tile's tokens (CTA-uniform).
    const int active = min(kNTiles, (in.w.slots + 7) / 8);
    const int rows[2][2] = {{staged_row(warp, 0, g), staged_row(warp, 0, g + 8)},
                            {staged_row(warp, 1, g), staged_row(warp, 1, g + 8)}};
    WeightStep<2> weights;  // MMA tiles t = 0, 1 of this warp, rows g and g+8
    in.load_weights(st, step, rows, weights);
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      uint32_t b0[kNTiles], b1[kNTiles];
#pragma unroll
      for (int n = 0; n < kNTiles; ++n) {
        const __nv_bfloat16* block = values + (n * 8 + g) * kStageValuePitch + 16 * c;
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
    const int32_t steps = in.steps();
#pragma unroll
    for (int s = 0; s < L::kStages - 1; ++s) {
      if (s < steps) in.issue(smem + s * L::Stage::kBytes, s); else cp_async_commit();
    }
    __nv_bfloat16* dequant = reinterpret_cast<__nv_bfloat16*>(smem + L::kDequant);
    for (int32_t step = 0; step < steps; ++step) {
      cp_async_wait<L::kStages - 2>();
      __syncthreads();  // this step's stage is visible to all; the stage refilled below is no longer read
      const int32_t next = step + L::kStages - 1;
      if (next < steps) in.issue(smem + (next % L::kStages) * L::Stage::kBytes, next); else cp_async_commit();
      const int stage = step % L::kStages;
      const __nv_bfloat16* values;
      if constexpr (kFp4B) {
        __nv_bfloat16* buffer = dequant + (step & 1) * TN * kStageValuePitch;
        dequantize_tokens(stage, step, buffer);
        __syncthreads();
        values = buffer;
      } else {
        values = reinterpret_cast<const __nv_bfloat16*>(smem + stage * L::Stage::kBytes + L::Stage::kB);
      }
      compute(stage, step, values, acc);
    }
    cp_async_wait<0>();
    __syncthreads();  // the pipeline's shared memory becomes the epilogue's
  }

  // Writes the warp's results: FC1 -> activation, bf16, FC2-input codes or bf16; FC2 -> y rows.
  __device__ void epilogue(float (&acc)[2][kNTiles][4]) const {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    float* stage = reinterpret_cast<float*>(smem) + warp * TN * 33;  // [token][feature], pitch 33
    const int32_t feature0 = in.w.row0 + warp * kWarpFeatures;
    const float alpha = kFc1 ? in.p.alpha1(in.w.expert) : 1.0f;
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
            stage[token * 33 + t * 16 + row] = kFc1 ? fc1_activation<false>(alpha, sum, sum) : sum;
          }
        }
      }
    }
    __syncwarp();
    for (int token = lane; token < TN; token += 32) {
      if (token >= in.w.slots) break;
      if constexpr (kFc1 && kGated) {
        in.store_token(token, stage + token * 33, {feature0});
      } else {
        in.store_token(token, stage + token * 33, {feature0, feature0 + 16});
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
  for (int32_t round = 0;; ++round) {
    const int32_t item = gemm_work_item(p, persistent != 0, kFc1 ? 0 : 1, round, claimed);
    K kernel{{p}, smem};
    if (item < 0 || !kernel.in.bind(item)) break;
    kernel.in.bind_copies();
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
  void (*fc1)(MoeParams, int32_t) =
      p.gated ? (p.nvfp4 ? moe_tiled_kernel<TN, true, true, true> : moe_tiled_kernel<TN, true, true, false>)
              : (p.nvfp4 ? moe_tiled_kernel<TN, true, false, true> : moe_tiled_kernel<TN, true, false, false>);
  void (*fc2)(MoeParams, int32_t) = p.nvfp4 ? moe_tiled_kernel<TN, false, false, true> : moe_tiled_kernel<TN, false, false, false>;
  // Output rows per work item, as the kernels' stagers number them.
  const int32_t fc1_rows =
      p.gated ? TileStager<TN, true, true, true>::kFeatures : TileStager<TN, true, false, true>::kFeatures;
  int64_t fc1_grid = gemm_work_items(p, TN, fc1_rows, p.intermediate);
  int64_t fc2_grid = gemm_work_items(p, TN, TileStager<TN, false, false, true>::kFeatures, p.hidden);
  cudaError_t e;
  if (persistent) {
    *step = "occupancy query";
    if ((e = persistent_grid(fc1, kThreads, 0, sms, fc1_grid, &fc1_grid)) != cudaSuccess) return e;
    if ((e = persistent_grid(fc2, kThreads, 0, sms, fc2_grid, &fc2_grid)) != cudaSuccess) return e;
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
