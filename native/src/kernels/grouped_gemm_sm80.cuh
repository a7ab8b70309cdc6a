// Grouped GEMM over expert-major slots with FP4 weights dequantised in registers, on mma.sync (sm_80 and later).
//
// Roles ("swap AB", as in Marlin and FlashInfer's decode kernels): the weights are the MMA's A side (M = output
// features, 16 rows per warp), the routed tokens its B side (N = tokens of the tile), K the reduction. A CTA is 4
// warps: 4/KS groups of 16 rows, each group's K steps shared round-robin by KS warps whose partial sums are then
// added in warp order (a fixed split: the same for every T, grid and GPU). One work item is (local expert, token
// tile, row tile of 16*4/KS rows). KS > 1 gives decode, where a tile has one or two tokens, enough independent
// loads in flight to stream the weights at memory speed.
//
// K is walked in steps of 64 elements = 4 scale blocks (kBlocksPerStep). In a step, lane (g = lane/4, c = lane%4)
// owns block c of its rows (g, g+8) and of its tokens (column g of every 8-token MMA tile): one E4M3 scale and 8
// packed code bytes per row or token. MMA k-step s (0..3) takes 4 elements of each lane's block, in the block order
// of e2m1_bf16.cuh: A registers {a0, a1} hold elements (s, s+4) and {a2, a3} elements (8+s, 12+s) of rows g and g+8;
// the B registers hold the same elements of the token. Every (row, token) product of the step is formed exactly once;
// the summation order is the MMA's own, fixed for a build and independent of the grid, the SM count and the tile a
// slot lands in.
//
//      K step (64 elements = 4 blocks of 16), one block per lane column c:
//      |  c=0  |  c=1  |  c=2  |  c=3  |      MMA k-step s uses elements s, s+4, 8+s, 12+s of every block
//
// Rows read 32 contiguous bytes per step across their 4 lanes (one full sector).
// Dequantisation is exact and needs no table: an E2M1 value times an E4M3 scale needs at most 6 significant bits, so
// the bf16 products (__hmul2) round nothing, and bf16 x bf16 products are exact in the fp32 accumulator. Weight
// products arrive scaled by 2^-7 (e2m1_bf16.cuh); every reader of an accumulator multiplies by kWeightProductFix.
#pragma once
#include <cuda_bf16.h>
#include <cstdint>
#include "../common/e2m1_bf16.cuh"
#include "../common/e4m3.cuh"
#include "../common/mma_sync.cuh"
#include "../common/tile_shapes.h"
#include "../dispatch/moe_params.h"

namespace b12x {

constexpr int kGemmWarps = kGemmThreads / 32;
constexpr int kRowsPerWarp = 16;                         // M of mma.m16n8k16
static_assert(kRowsPerWarp * kGemmWarps == 64, "rows_per_cta() below assumes 4 warps of 16 rows");

// Rows of one work item for a K split of ks warps per row group.
__host__ __device__ constexpr int rows_per_cta(int ks) { return kRowsPerWarp * (kGemmWarps / ks); }
constexpr int kBlocksPerStep = 4;                        // K step: one 16-element block per lane column
constexpr int kStagePitch = 17;                          // epilogue staging row pitch (floats): 16 + 1 against bank conflicts
static_assert(kBlocksPerStep * 16 == 64, "an MMA k-step of 16 takes 4 elements of each of the 4 lane columns");

__device__ __forceinline__ uint32_t bf16x2_broadcast(float v) {
  uint32_t h = __bfloat16_as_ushort(__float2bfloat16_rn(v));  // exact for E4M3 values
  return h | (h << 16);
}

// One work item: a token tile of one local expert and a 64-row tile of the weight matrix.
struct WorkItem {
  int32_t expert;      // local expert
  int32_t first_slot;  // first slot of the token tile
  int32_t slots;       // valid slots in the tile (1..TN)
  int32_t row0;        // first output row of the CTA
};

// Token tile `tile` (numbered over the experts by tile_prefix, p.token_tile slots each, found in the routing's
// tile_map) with row tile `row_tile` of `rows` output rows. False when the tile is past the routing's last one.
__device__ __forceinline__ bool bind_work_item(const MoeParams& p, int32_t tile, int32_t row_tile, int32_t rows,
                                               WorkItem& w) {
  if (tile >= p.tile_prefix[p.local_experts]) return false;
  const int4 entry = p.tile_map[tile];
  w.expert = entry.x;
  w.first_slot = entry.y;
  w.slots = entry.z;
  w.row0 = row_tile * rows;
  return true;
}

// Work items are numbered (expert, token tile, row tile), row tile fastest. False when item is past the end.
__device__ __forceinline__ bool decode_work_item(const MoeParams& p, int32_t item, int32_t row_tiles, int32_t rows,
                                                 WorkItem& w) {
  return bind_work_item(p, item / row_tiles, item % row_tiles, rows, w);
}

// The weight operand of one lane: rows g and g+8 of NA matrices (1, or 2 for gate/up), as pointers to the lane's
// block c of K step 0 (codes and scale byte), so that K step `step` is a fixed offset away: 32 code bytes and
// four_block_stride() scale bytes per step. Computed once per work item, not per load.
template <int NA>
struct WeightOperand {
  const uint8_t* codes[NA][2];   // nullptr for a row past the matrix
  const uint8_t* scales[NA][2];
  int32_t scale_step;            // scale bytes per K step
  int32_t k_blocks;              // K / 16

  // matrix: this expert's [rows][K/2] codes; scale_tensor: every expert's scales; row[a][r]: absolute row or -1.
  __device__ __forceinline__ void bind(const uint8_t* matrix, const uint8_t* scale_tensor, const ScaleAddressing& sa,
                                       int32_t expert, int32_t k, const int32_t (&row)[NA][2]) {
    const int c = threadIdx.x & 3;
    k_blocks = k / 16;
    scale_step = sa.four_block_stride();
#pragma unroll
    for (int a = 0; a < NA; ++a) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const bool valid = row[a][r] >= 0;
        codes[a][r] = valid ? matrix + static_cast<int64_t>(row[a][r]) * (k / 2) + c * 8 : nullptr;
        scales[a][r] = valid ? scale_tensor + sa.offset(expert, row[a][r], c) : nullptr;
      }
    }
  }
};

// The token operand of one lane: column g of each 8-token MMA tile.
template <int TN, bool kFp4>
struct TokenOperand {
  // kFp4: codes [rows][K/2] and linear scales [rows][K/16] of the quantised activations; else bf16 rows [rows][K].
  const uint8_t* codes[TN / 8];
  const uint8_t* scales[TN / 8];
  const __nv_bfloat16* values[TN / 8];
};

// Weight registers of one K step of one lane: block kb of rows g and g+8 of each of the NA matrices.
// load_weight_step only issues loads (scale bytes stay raw, 0xFFFFFFFF marking "no block") and
// decode_weight_scales turns them into bf16x2 later: a warp issues in order, so decoding a byte right after its
// load would stall the warp on every load of a batch instead of once.
template <int NA>
struct WeightStep {
  uint2 raw[NA][2];
  uint32_t scale[NA][2];  // after decode_weight_scales: weight_scale_bf16x2 of the block scale; 0 for no block
};

constexpr uint32_t kNoBlock = 0xFFFFFFFFu;

// K step `step` of the lane's rows; k_valid: the lane's block of that step is inside K.
template <int NA>
__device__ __forceinline__ void load_weight_step(const WeightOperand<NA>& wo, int32_t step, bool k_valid, WeightStep<NA>& s) {
#pragma unroll
  for (int a = 0; a < NA; ++a) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      if (wo.codes[a][r] != nullptr && k_valid) {
        s.raw[a][r] = *reinterpret_cast<const uint2*>(wo.codes[a][r] + step * (kBlocksPerStep * 8));
        s.scale[a][r] = wo.scales[a][r][step * wo.scale_step];
      } else {
        s.raw[a][r] = make_uint2(0u, 0u);
        s.scale[a][r] = kNoBlock;
      }
    }
  }
}

template <int NA>
__device__ __forceinline__ void decode_weight_scales(WeightStep<NA>& s) {
#pragma unroll
  for (int a = 0; a < NA; ++a)
#pragma unroll
    for (int r = 0; r < 2; ++r) s.scale[a][r] = s.scale[a][r] == kNoBlock ? 0u : weight_scale_bf16x2(s.scale[a][r]);
}

// The m16n8k16 A fragment of matrix a for MMA k-step s (0..3): rows g, g+8 x elements (s, s+4) and (8+s, 12+s) of
// the lane's block, exact values x 2^-7.
template <int NA>
__device__ __forceinline__ void weight_fragment(const WeightStep<NA>& ws, int a, int s, uint32_t (&frag)[4]) {
  frag[0] = bf16x2_mul(e2m1_pair_bits(ws.raw[a][0].x, s), ws.scale[a][0]);
  frag[1] = bf16x2_mul(e2m1_pair_bits(ws.raw[a][1].x, s), ws.scale[a][1]);
  frag[2] = bf16x2_mul(e2m1_pair_bits(ws.raw[a][0].y, s), ws.scale[a][0]);
  frag[3] = bf16x2_mul(e2m1_pair_bits(ws.raw[a][1].y, s), ws.scale[a][1]);
}

// MMA k-step s (0..3) of a weight step against the first `active` of NT token fragments in block order (b0:
// elements s, s+4; b1: 8+s, 12+s; see e2m1_bf16.cuh); `active` is warp-uniform. Accumulates 2^-7 times the products.
template <int NA, int NT>
__device__ __forceinline__ void mma_weight_step(const WeightStep<NA>& ws, int s, const uint32_t (&b0)[NT],
                                                const uint32_t (&b1)[NT], float (&acc)[NA][NT][4], int active = NT) {
#pragma unroll
  for (int a = 0; a < NA; ++a) {
    uint32_t frag[4];
    weight_fragment(ws, a, s, frag);
#pragma unroll
    for (int n = 0; n < NT; ++n) {
      if (n < active) mma_16816<MmaOperands::kBf16>(acc[a][n], frag[0], frag[1], frag[2], frag[3], b0[n], b1[n]);
    }
  }
}

// Registers of one K step of one lane: the weight step and the token blocks.
template <int TN, int NA, bool kFp4B>
struct StepOperands {
  WeightStep<NA> weights;
  uint2 bcodes[kFp4B ? TN / 8 : 1];
  uint32_t bscale[kFp4B ? TN / 8 : 1];
  uint32_t bvals[kFp4B ? 1 : TN / 8][8];  // bf16 pairs of the token block (W4A16)
};

template <int TN, int NA, bool kFp4B>
__device__ __forceinline__ void load_step(const WeightOperand<NA>& wo, const TokenOperand<TN, kFp4B>& to, int32_t step,
                                          bool k_valid, StepOperands<TN, NA, kFp4B>& s) {
  const int32_t kb = step * kBlocksPerStep + (threadIdx.x & 3);
  load_weight_step(wo, step, k_valid, s.weights);
#pragma unroll
  for (int n = 0; n < TN / 8; ++n) {
    if constexpr (kFp4B) {
      const bool valid = k_valid && to.codes[n] != nullptr;
      s.bcodes[n] = valid ? *reinterpret_cast<const uint2*>(to.codes[n] + kb * 8) : make_uint2(0u, 0u);
      s.bscale[n] = valid ? e4m3_to_bf16x2(to.scales[n][kb]) : 0u;
    } else {
      uint4 lo = make_uint4(0u, 0u, 0u, 0u), hi = lo;
      if (k_valid && to.values[n] != nullptr) {
        const uint4* src = reinterpret_cast<const uint4*>(to.values[n] + kb * 16);
        lo = src[0];
        hi = src[1];
      }
      s.bvals[n][0] = lo.x; s.bvals[n][1] = lo.y; s.bvals[n][2] = lo.z; s.bvals[n][3] = lo.w;
      s.bvals[n][4] = hi.x; s.bvals[n][5] = hi.y; s.bvals[n][6] = hi.z; s.bvals[n][7] = hi.w;
    }
  }
}

template <int TN, int NA, bool kFp4B>
__device__ __forceinline__ void mma_step(StepOperands<TN, NA, kFp4B>& st, float (&acc)[NA][TN / 8][4]) {
  decode_weight_scales(st.weights);
  uint32_t b[TN / 8][8];  // token blocks in block order, exact values
#pragma unroll
  for (int n = 0; n < TN / 8; ++n) {
    if constexpr (kFp4B) {
      dequantize_block_ordered(st.bcodes[n], st.bscale[n], b[n]);
    } else {
      order_block(st.bvals[n], b[n]);
    }
  }
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    uint32_t b0[TN / 8], b1[TN / 8];
#pragma unroll
    for (int n = 0; n < TN / 8; ++n) {
      b0[n] = b[n][2 * s];
      b1[n] = b[n][2 * s + 1];
    }
    mma_weight_step(st.weights, s, b0, b1, acc);
  }
}

// Accumulates acc[a][n][*] += W_a[rows g, g+8] . B[tokens n*8+g] over the K steps first_step, first_step + stride,
// ... The next step's loads are issued before the current step's MMAs (register double buffering) when the tile
// is small enough for two copies of the operands (kPrefetch).
template <int TN, int NA, bool kFp4B, bool kPrefetch>
__device__ __forceinline__ void gemm_mainloop(const WeightOperand<NA>& wo,
                                              const TokenOperand<TN, kFp4B>& to, int32_t first_step, int32_t stride,
                                              float (&acc)[NA][TN / 8][4]) {
  const int c = threadIdx.x & 3;
  const int32_t k_blocks = wo.k_blocks;
  const int32_t steps = (k_blocks + kBlocksPerStep - 1) / kBlocksPerStep;  // the same for every lane
  if constexpr (kPrefetch) {
    StepOperands<TN, NA, kFp4B> current, next;
    int32_t step = first_step;
    if (step < steps) load_step(wo, to, step, step * kBlocksPerStep + c < k_blocks, current);
    for (; step < steps; step += stride) {
      const int32_t following = step + stride;
      if (following < steps) load_step(wo, to, following, following * kBlocksPerStep + c < k_blocks, next);
      mma_step(current, acc);
      current = next;
    }
  } else {
    for (int32_t step = first_step; step < steps; step += stride) {
      StepOperands<TN, NA, kFp4B> current;
      load_step(wo, to, step, step * kBlocksPerStep + c < k_blocks, current);
      mma_step(current, acc);
    }
  }
}

// Adds the partial accumulators of the KS warps of each row group into the group's first warp, in warp order.
// Every thread of the CTA must call it.
template <int KS, int NA, int TN>
struct SplitReduction {
  float partial[KS > 1 ? kGemmWarps : 1][NA][TN / 8][4][32];

  __device__ __forceinline__ void reduce(float (&acc)[NA][TN / 8][4]) {
    if constexpr (KS > 1) {
      const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
      for (int a = 0; a < NA; ++a)
#pragma unroll
        for (int n = 0; n < TN / 8; ++n)
#pragma unroll
          for (int i = 0; i < 4; ++i) partial[warp][a][n][i][lane] = acc[a][n][i];
      __syncthreads();
      if (warp % KS == 0) {
#pragma unroll
        for (int w = 1; w < KS; ++w)
#pragma unroll
          for (int a = 0; a < NA; ++a)
#pragma unroll
            for (int n = 0; n < TN / 8; ++n)
#pragma unroll
              for (int i = 0; i < 4; ++i) acc[a][n][i] = __fadd_rn(acc[a][n][i], partial[warp + w][a][n][i][lane]);
      }
      __syncthreads();
    }
  }
};

}  // namespace b12x
