// How the narrow kernels work (moe_narrow_nvfp4.cuh says what they compute).
//
// K is walked in slabs of 128 elements (8 blocks). The CTA's kNarrowWarps warps take every kNarrowWarps-th slab and
// copy it with cp.async into their own ring, kNarrowSlabsInFlight slabs ahead, as the micro kernels do. A warp's slab
// holds two 16-row weight tiles (FC1 silu: up and gate rows of 16 features; relu2: 32 features; FC2: 32 rows) and the
// tile's tokens, each weight row as 64 code bytes and 8 scale bytes, each token the same (16-token tiles) or as 256
// bytes of ready fp16 operands (8-token tiles, narrow_operand.cuh).
//
// MMA roles ("swap AB"): weights are the M side, tokens the N side, one m16n8k16 per 16-block, so D[row][token] is
// the block's sum; one fused multiply-add per row and token then applies the weight block scale. Which element of a
// block fills which k slot is free, as long as A and B agree and the four lanes of a row share out the 16 elements.
// Lane (g, c) takes, of every block, bytes e and e+2 of code word h (h = c / 2, e = c % 2: elements 8h + 2e, +1, +4,
// +5) of its rows g, g+8 and of token g. A ring chunk holds blocks 2q and 2q+1 (words 0-1, 2-3), so the lane reads
// word h of each block and joins its bytes with one byte permute; e2m1_word_fp16 then gives the lane's two k-slot
// pairs of both blocks. A and B fragments are built by the same steps, so every k slot of an MMA pairs a weight
// element with the same element of the token.
//
// Exactness (e2m1_fp16.cuh): weights enter as code * 2^-14, tokens as code * scale * 2^-7 (the E4M3 scale times 2^7
// is at most 57344, exact in fp16, and every token value keeps its 6 significant bits above fp16's smallest
// subnormal), so a block sum is exact and 2^-21 times the true one, and so is its product with the weight scale;
// kNarrowSumFix restores the sums. A block's term is the micro kernels' exactly; only the order in which blocks are
// added differs: per lane over its warp's slabs in order, then the warps in order. That order is fixed, and a token's
// sums do not depend on the other tokens of its tile or on the tile size.
//
// Lanes read ring entries other lanes copied, so a warp barrier follows each wait and precedes each refill. Chunk q of
// row i sits at position q ^ ((i >> 1) & 3): the 8 rows a warp reads at once fall on distinct 16-byte bank groups.
#include "moe_narrow_nvfp4.cuh"

#include <cuda_fp16.h>
#include "../common/cp_async.cuh"
#include "../common/e2m1.cuh"
#include "../common/e2m1_fp16.cuh"
#include "../common/mma_sync.cuh"
#include "../common/pdl.cuh"
#include "../common/tile_shapes.h"
#include "fc_epilogue.cuh"
#include "gemm_grid.cuh"
#include "grouped_gemm_sm80.cuh"
#include "narrow_operand.cuh"

namespace b12x {
namespace {

constexpr int kWarps = kNarrowWarps;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = 16;       // M of mma.m16n8k16: rows of one weight tile
constexpr int kTiles = 2;       // weight tiles per work item
constexpr int kSlabBytes = kSlabBlocks * 8;
constexpr int kChunks = 4;      // 16-byte chunks of a row's slab: blocks 2q and 2q+1 in chunk q
constexpr int kSlabOperandBytes = kSlabBlocks * 16 * 2;  // a token's slab as fp16 operands
constexpr int kStages = kNarrowSlabsInFlight;
constexpr float kNarrowSumFix = 0x1p21f;             // sums arrive as 2^-14 (weights) times 2^-7 (tokens) the true ones
constexpr uint32_t kTokenScaleFactor = 0x58005800u;  // fp16x2 (2^7, 2^7)
// Resident CTAs per SM the register allocation must allow: what the kernels had with one CTA per work item (93-98
// registers for 8-token tiles, 126-128 for 16). With the work-item loop ptxas keeps more values live across items
// (125-162 registers, one CTA per SM fewer) unless held to these; held, it needs no spills (nvcc 11.8 for sm_80 and
// 13 for sm_90a alike).
template <int NT>
constexpr int kNarrowMinBlocks = NT == 1 ? 5 : 4;
static_assert(kThreads == 128, "the FC1 epilogue takes 8 tokens of 16 features per pass of the CTA's threads");

__device__ __forceinline__ int chunk_slot(int row, int q) { return q ^ ((row >> 1) & 3); }

// Whether the tile's tokens arrive as exact fp16 operands (narrow_operand.cuh) rather than NVFP4 codes.
template <int NT>
constexpr bool kFp16Tokens = NT * 8 == kNarrowFp16TokenTile;

// A stage of the tile's tokens: NVFP4 codes and scales of NT * 8 tokens, or (kFp16Tokens) the 16 operand chunks of
// each of 8 tokens, chunk (4q + c) of token g at position (4q + c) ^ 4 (g % 2), so that the 8 lanes of each
// quarter-warp read distinct 16-byte bank groups.
template <int NT, bool kFp16 = kFp16Tokens<NT>>
struct TokenStage {
  uint4 codes[NT * 8][kChunks];
  uint2 scales[NT * 8];
};
template <int NT>
struct TokenStage<NT, true> {
  uint4 values[8][4 * kChunks];
};
__device__ __forceinline__ int operand_slot(int token, int chunk) { return chunk ^ (4 * (token & 1)); }

// The rings of the CTA's warps: codes and scales of the two weight tiles, and the tile's tokens.
template <int NT>
struct Ring {
  uint4 a_codes[kWarps][kStages][kTiles][kRows][kChunks];
  uint2 a_scales[kWarps][kStages][kTiles][kRows];  // the row's 8 block scales
  TokenStage<NT> b[kWarps][kStages];
};
static_assert(sizeof(Ring<1>) + sizeof(float) * kWarps * kTiles * kRows * 8 <= 40 * 1024 &&
                  sizeof(Ring<2>) + sizeof(float) * kWarps * kTiles * kRows * 16 <= 48 * 1024,
              "static shared memory; 5 (8-token) and 4 (16-token) CTAs per SM in 227 KB");

// The warps' partial sums, added in warp order by the epilogues.
template <int NT>
struct Partials {
  float v[kWarps][kTiles][kRows][NT * 8];

  __device__ __forceinline__ float sum(int tile, int row, int token) const {
    float s = v[0][tile][row][token];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) s = __fadd_rn(s, v[w][tile][row][token]);
    return s * kNarrowSumFix;
  }
};

// This lane's copy sources at slab 0; slab s is a fixed offset away.
template <int NT>
struct Source {
  const uint8_t* a_codes[kTiles][2];  // rows g and g+8 of each tile: chunk c
  const uint8_t* a_scales[kTiles];    // scale word (lane & 1) of row lane >> 1 of each tile
  const uint8_t* b_codes[NT];         // token g + 8t: chunk c (kFp16Tokens: its operand row); nullptr past the tile
  const uint8_t* b_scales;            // scale word (lane & 1) of token lane >> 1; nullptr past the tile
  const uint8_t* b_plane;             // a readable address for zero-filled token copies
  int32_t a_scale_step;               // weight scale bytes from one slab to the next: two 4-block words
  int32_t k_blocks;
  bool wide;                          // weight codes 16-byte aligned: one 16-byte copy per row and lane, else two

  __device__ __forceinline__ void bind(const WorkItem& w, const uint8_t* matrix, const uint8_t* scale_tensor,
                                       const ScaleAddressing& sa, int32_t k, const int32_t (&first_row)[kTiles],
                                       const uint8_t* token_codes, const uint8_t* token_scales) {
    const int lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    k_blocks = k / 16;
    a_scale_step = 2 * sa.four_block_stride();
    wide = (reinterpret_cast<uintptr_t>(matrix) & 15u) == 0;  // rows are K / 2 bytes apart, K % 64 == 0
#pragma unroll
    for (int a = 0; a < kTiles; ++a) {
#pragma unroll
      for (int r = 0; r < 2; ++r) a_codes[a][r] = matrix + static_cast<int64_t>(first_row[a] + g + 8 * r) * (k / 2) + 16 * c;
      a_scales[a] = scale_tensor + sa.offset(w.expert, first_row[a] + (lane >> 1), 4 * (lane & 1));
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const int token = g + 8 * t;
      const int64_t row_bytes = kFp16Tokens<NT> ? 2 * k : k / 2;  // fp16 values or E2M1 codes
      b_codes[t] = token < w.slots ? token_codes + (w.first_slot + token) * row_bytes + (kFp16Tokens<NT> ? 0 : 16 * c)
                                   : nullptr;
    }
    const int token = lane >> 1;
    b_scales = token < w.slots && token < NT * 8
                   ? token_scales + static_cast<int64_t>(w.first_slot + token) * scale_row_pitch(k) + 4 * (lane & 1)
                   : nullptr;
    b_plane = token_codes;
  }

  // Copies slab `slab` into `stage` of this warp's ring and commits it as one group. K % 64 == 0, so a chunk's two
  // blocks and a scale word's four are either all inside K or all past it (zero-filled).
  __device__ __forceinline__ void issue(Ring<NT>& ring, int stage, int32_t slab) const {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    const bool chunk_valid = slab * kSlabBlocks + 2 * c < k_blocks;
    const bool word_valid = slab * kSlabBlocks + 4 * (lane & 1) < k_blocks;
    const int32_t code_offset = chunk_valid ? slab * kSlabBytes : 0;  // a zero-filled copy reads nothing: slab 0 stands in
    const int32_t scale_offset = word_valid ? slab * a_scale_step : 0;
#pragma unroll
    for (int a = 0; a < kTiles; ++a) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        cp_async_chunk16(&ring.a_codes[warp][stage][a][g + 8 * r][chunk_slot(g, c)], a_codes[a][r] + code_offset, wide,
                         chunk_valid);
      }
      cp_async4(reinterpret_cast<uint32_t*>(&ring.a_scales[warp][stage][a][lane >> 1]) + (lane & 1),
                a_scales[a] + scale_offset, word_valid);
    }
    if constexpr (kFp16Tokens<NT>) {
      issue_fp16_tokens(ring.b[warp][stage], slab);
    } else {
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const bool valid = b_codes[t] != nullptr && chunk_valid;
        cp_async16(&ring.b[warp][stage].codes[g + 8 * t][chunk_slot(g, c)], valid ? b_codes[t] + code_offset : b_plane,
                   valid);
      }
      if (lane < NT * 16) {
        const bool valid = b_scales != nullptr && word_valid;
        cp_async4(reinterpret_cast<uint32_t*>(&ring.b[warp][stage].scales[lane >> 1]) + (lane & 1),
                  valid ? b_scales + slab * kSlabBlocks : b_plane, valid);
      }
    }
    cp_async_commit();
  }

  // The fp16 operand chunks (4q + c) of token g for q = 0..3 (kSlabOperandBytes per token and slab); chunk q holds
  // blocks 2q and 2q+1, inside K or past it together (zero-filled).
  __device__ __forceinline__ void issue_fp16_tokens(TokenStage<NT>& stage, int32_t slab) const {
    const int lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
#pragma unroll
    for (int q = 0; q < kChunks; ++q) {
      const bool valid = b_codes[0] != nullptr && slab * kSlabBlocks + 2 * q < k_blocks;
      const int chunk = 4 * q + c;
      const uint8_t* from = valid ? b_codes[0] + slab * kSlabOperandBytes + chunk * 16 : b_plane;
      cp_async16(&stage.values[g][operand_slot(g, chunk)], from, valid);
    }
  }

  // Asks L2 for this warp's first kStages slabs of the lane's weight rows and scales, ahead of issue().
  __device__ __forceinline__ void prefetch_weights(int32_t slabs) const {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, c = lane & 3;
#pragma unroll
    for (int s = 0; s < kStages; ++s) {
      const int32_t slab = warp + s * kWarps;
      if (slab >= slabs || slab * kSlabBlocks + 2 * c >= k_blocks) continue;
#pragma unroll
      for (int a = 0; a < kTiles; ++a) {
#pragma unroll
        for (int r = 0; r < 2; ++r) prefetch_l2(a_codes[a][r] + slab * kSlabBytes);
        if (slab * kSlabBlocks + 4 * (lane & 1) < k_blocks) prefetch_l2(a_scales[a] + slab * a_scale_step);
      }
    }
  }
};

// Lane c's code bytes of a ring chunk (block 2q in words 0 and 1, block 2q+1 in words 2 and 3) as one word: bytes e
// and e+2 of word c / 2 of each block, in the order (2q, 2q+1, 2q, 2q+1) that puts a block's nibbles 16 bits apart
// (e2m1_word_fp16's pairs). Reading the two words, not the chunk, leaves one byte permute of the three a whole-chunk
// gather takes. pick = e | (e + 4) << 4 | (e + 2) << 8 | (e + 6) << 12.
__device__ __forceinline__ uint32_t lane_codes(const uint4& chunk, int c, uint32_t pick) {
  const uint32_t* words = reinterpret_cast<const uint32_t*>(&chunk);
  return __byte_perm(words[c >> 1], words[2 + (c >> 1)], pick);
}

__device__ __forceinline__ uint32_t fp16x2_mul(uint32_t a, uint32_t b) {
  const __half2 r = __hmul2(*reinterpret_cast<const __half2*>(&a), *reinterpret_cast<const __half2*>(&b));
  return *reinterpret_cast<const uint32_t*>(&r);
}

// a times the low (kHigh false) or high half of b in both halves: the half is picked by the multiply's operand
// selector, not by a byte permute.
template <bool kHigh>
__device__ __forceinline__ uint32_t fp16x2_mul_half(uint32_t a, uint32_t b) {
  const __half2 h = *reinterpret_cast<const __half2*>(&b);
  const __half2 r = __hmul2(*reinterpret_cast<const __half2*>(&a), kHigh ? __high2half2(h) : __low2half2(h));
  return *reinterpret_cast<const uint32_t*>(&r);
}

// acc[a][t] += the scaled block sums of this warp's slabs: (row g, token 8t+2c), (g, 8t+2c+1), (g+8, 8t+2c),
// (g+8, 8t+2c+1) of weight tile a, 2^-21 times the true values.
template <int NT>
__device__ __forceinline__ void mainloop(const Source<NT>& src, Ring<NT>& ring, int32_t slabs,
                                         float (&acc)[kTiles][NT][4]) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  const uint32_t e = static_cast<uint32_t>(c & 1), pick = e | (e + 4) << 4 | (e + 2) << 8 | (e + 6) << 12;
  int stage = 0;
  for (int32_t slab = warp; slab < slabs; slab += kWarps) {
    cp_async_wait<kStages - 1>();
    __syncwarp();  // every lane's copies of this slab are visible to the whole warp
    uint32_t b[NT][kSlabBlocks][2];  // token g + 8t, block j: B registers of the block's MMA
    if constexpr (kFp16Tokens<NT>) {
#pragma unroll
      for (int q = 0; q < kChunks; ++q) {
        const uint4 v = ring.b[warp][stage].values[g][operand_slot(g, 4 * q + c)];
        b[0][2 * q][0] = v.x;
        b[0][2 * q][1] = v.y;
        b[0][2 * q + 1][0] = v.z;
        b[0][2 * q + 1][1] = v.w;
      }
    } else {
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const uint2 scales = ring.b[warp][stage].scales[g + 8 * t];
#pragma unroll
        for (int q = 0; q < kChunks; ++q) {
          const uint32_t s = fp16x2_mul(e4m3x2_to_fp16x2((q < 2 ? scales.x : scales.y) >> (16 * (q & 1))), kTokenScaleFactor);
          uint32_t pairs[4];
          e2m1_word_fp16(lane_codes(ring.b[warp][stage].codes[g + 8 * t][chunk_slot(g, q)], c, pick), pairs);
          b[t][2 * q][0] = fp16x2_mul_half<false>(pairs[0], s);
          b[t][2 * q][1] = fp16x2_mul_half<false>(pairs[1], s);
          b[t][2 * q + 1][0] = fp16x2_mul_half<true>(pairs[2], s);
          b[t][2 * q + 1][1] = fp16x2_mul_half<true>(pairs[3], s);
        }
      }
    }
#pragma unroll
    for (int a = 0; a < kTiles; ++a) {
      const uint2 s0 = ring.a_scales[warp][stage][a][g], s1 = ring.a_scales[warp][stage][a][g + 8];
#pragma unroll
      for (int q = 0; q < kChunks; ++q) {
        uint32_t r0[4], r1[4];  // rows g and g+8: the lane's two k-slot pairs of block 2q, then of block 2q+1
        e2m1_word_fp16(lane_codes(ring.a_codes[warp][stage][a][g][chunk_slot(g, q)], c, pick), r0);
        e2m1_word_fp16(lane_codes(ring.a_codes[warp][stage][a][g + 8][chunk_slot(g, q)], c, pick), r1);
        const int shift = 16 * (q & 1);
        const float2 w0 = e4m3x2_to_float2((q < 2 ? s0.x : s0.y) >> shift);
        const float2 w1 = e4m3x2_to_float2((q < 2 ? s1.x : s1.y) >> shift);
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const float scale0 = h == 0 ? w0.x : w0.y, scale1 = h == 0 ? w1.x : w1.y;
#pragma unroll
          for (int t = 0; t < NT; ++t) {
            float d[4] = {};
            mma_16816<MmaOperands::kFp16>(d, r0[2 * h], r1[2 * h], r0[2 * h + 1], r1[2 * h + 1], b[t][2 * q + h][0],
                                          b[t][2 * q + h][1]);
            acc[a][t][0] = __fmaf_rn(d[0], scale0, acc[a][t][0]);
            acc[a][t][1] = __fmaf_rn(d[1], scale0, acc[a][t][1]);
            acc[a][t][2] = __fmaf_rn(d[2], scale1, acc[a][t][2]);
            acc[a][t][3] = __fmaf_rn(d[3], scale1, acc[a][t][3]);
          }
        }
      }
    }
    __syncwarp();  // every lane's reads of this stage come before the copy that refills it
    const int32_t next = slab + kStages * kWarps;
    if (next < slabs) src.issue(ring, stage, next); else cp_async_commit();
    stage = stage + 1 == kStages ? 0 : stage + 1;
  }
}

// The item's weight rows (FC1 silu: up rows then gate rows of its 16 features; else 32 rows) and token rows.
template <bool kFc1, bool kGated, int NT>
__device__ __forceinline__ void bind_source(const MoeParams& p, const WorkItem& w, Source<NT>& src) {
  int32_t first_row[kTiles];
#pragma unroll
  for (int a = 0; a < kTiles; ++a) first_row[a] = (kFc1 && kGated) ? a * p.intermediate + w.row0 : w.row0 + a * kRows;
  const uint8_t* fp16_plane = reinterpret_cast<const uint8_t*>(kFc1 ? p.x_fp16 : p.a_fp16);
  if constexpr (kFc1) {
    src.bind(w, p.w1 + static_cast<int64_t>(w.expert) * p.w1_rows * (p.hidden / 2), p.w1_scales, p.w1_sa, p.hidden,
             first_row, kFp16Tokens<NT> ? fp16_plane : p.xq_codes, p.xq_scales);
  } else {
    src.bind(w, p.w2 + static_cast<int64_t>(w.expert) * p.hidden * (p.intermediate / 2), p.w2_scales, p.w2_sa,
             p.intermediate, first_row, kFp16Tokens<NT> ? fp16_plane : p.aq_codes, p.aq_scales);
  }
}

// Steps 3 and 4 for the tile's tokens: half-warps take one token's 16 features at a time (the activation, bf16, then
// the FC2-input block quantised across the half) into the slot's aq row.
template <bool kGated, int NT>
__device__ __forceinline__ void finish_fc1(const MoeParams& p, const WorkItem& w, const Partials<NT>& partial) {
  const int i = threadIdx.x & 15;
  const float alpha = p.alpha1(w.expert), gs = p.gs2.at(w.expert);
  for (int token = threadIdx.x >> 4; token < w.slots; token += kThreads / 16) {  // the same token in a whole half-warp
#pragma unroll
    for (int block = 0; block < (kGated ? 1 : kTiles); ++block) {
      const float up = partial.sum(kGated ? 0 : block, i, token);
      const float gate = kGated ? partial.sum(1, i, token) : up;
      const LaneBlock b = quantize_block_across_lanes(fc1_activation<kGated>(alpha, up, gate), gs);
      const int32_t slot = w.first_slot + token, n_first = w.row0 + kRows * block;
      if (i == 0) store_fc1_codes(p, slot, n_first, b.codes, b.scale);  // the codes also serve the intermediate export
      if constexpr (kFp16Tokens<NT>) {  // FC2's operand: lanes i and i + 4 of the half give a pair
        const float value = __fmul_rn(e2m1_decode(b.code), b.q);
        const float high = __shfl_down_sync(0xFFFFu << (threadIdx.x & 16), value, 4, 16);
        if ((i & 4) == 0) store_narrow_pair(p.a_fp16 + static_cast<int64_t>(slot) * (p.intermediate / 2), n_first / 16, i, value, high);
      }
    }
  }
}

// Step 5's y rows of the tile's pairs: fp32(w * alpha2) times each of the item's 32 hidden rows.
template <int NT>
__device__ __forceinline__ void finish_fc2(const MoeParams& p, const WorkItem& w, const Partials<NT>& partial) {
  constexpr int kOutRows = kTiles * kRows;
  for (int i = threadIdx.x; i < kOutRows * w.slots; i += kThreads) {
    const int row = i % kOutRows, token = i / kOutRows;
    store_fc2_row(p, p.slot_pair[w.first_slot + token], w.expert, w.row0 + row, partial.sum(row / kRows, row % kRows, token));
  }
}

// The work item's GEMM (src bound to it): its weight rows streamed once against the tile's tokens, then the epilogue.
template <bool kFc1, bool kGated, int NT>
__device__ __forceinline__ void run_item(const MoeParams& p, const WorkItem& w, const Source<NT>& src, Ring<NT>& ring,
                                         Partials<NT>& partial) {
  const int32_t slabs = slabs_of(kFc1 ? p.hidden : p.intermediate);
  const int warp = threadIdx.x >> 5;
#pragma unroll
  for (int s = 0; s < kStages; ++s) {  // every warp commits kStages groups so the wait count in mainloop holds
    const int32_t slab = warp + s * kWarps;
    if (slab < slabs) src.issue(ring, s, slab); else cp_async_commit();
  }
  float acc[kTiles][NT][4] = {};
  mainloop(src, ring, slabs, acc);

  const int lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
#pragma unroll
  for (int a = 0; a < kTiles; ++a) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const int token = 8 * t + 2 * c;
      partial.v[warp][a][g][token] = acc[a][t][0];
      partial.v[warp][a][g][token + 1] = acc[a][t][1];
      partial.v[warp][a][g + 8][token] = acc[a][t][2];
      partial.v[warp][a][g + 8][token + 1] = acc[a][t][3];
    }
  }
  __syncthreads();
  if constexpr (kFc1) finish_fc1<kGated, NT>(p, w, partial); else finish_fc2<NT>(p, w, partial);
}

// A persistent grid whose CTAs claim work items from a queue in order: item i is token tile i % tiles against output
// row tile i / tiles, token tile fastest, so the tiles of an expert that gets more than one run side by side and
// share its weight reads in L2. Only the routing's real tiles are items (a grid per tile bound left a fifth to a
// third of its CTAs empty at T = 8 and 64); claiming instead of striding by the grid lets the CTAs that run faster
// take more items.
//
// Programmatic dependent launch (pdl.cuh): the kernel before this one signals its dependants only after its own
// pdl_wait, so the routing (two kernels back) is complete when this one starts. The CTA claims its first item and
// prefetches that item's first weight slabs into L2 before it waits for the kernel before (step 1 or FC1), whose
// tail its weight reads then overlap.
template <bool kFc1, bool kGated, int NT>
__global__ void __launch_bounds__(kThreads, kNarrowMinBlocks<NT>) moe_narrow_nvfp4(MoeParams p) {
  constexpr int kFeatures = (kFc1 && kGated) ? kRows : kTiles * kRows;  // output rows (features) per item
  __shared__ Ring<NT> ring;
  __shared__ Partials<NT> partial;
  __shared__ int32_t claimed;
  const int32_t tiles = p.tile_prefix[p.local_experts];
  const int32_t items = tiles * ((kFc1 ? p.intermediate : p.hidden) / kFeatures);
  int32_t item = gemm_work_item(p, true, kFc1 ? 0 : 1, 0, claimed);
  WorkItem w;
  Source<NT> src;
  if (item < items) {  // items are the routing's tiles, so every one binds
    bind_work_item(p, item % tiles, item / tiles, kFeatures, w);
    bind_source<kFc1, kGated>(p, w, src);
    src.prefetch_weights(slabs_of(kFc1 ? p.hidden : p.intermediate));
  }
  pdl_wait();
  pdl_launch_dependents();
  while (item < items) {
    run_item<kFc1, kGated, NT>(p, w, src, ring, partial);
    item = gemm_work_item(p, true, kFc1 ? 0 : 1, 0, claimed);
    if (item < items) {
      bind_work_item(p, item % tiles, item / tiles, kFeatures, w);
      bind_source<kFc1, kGated>(p, w, src);
    }
  }
}

template <int NT>
cudaError_t launch_narrow(const MoeParams& p, bool pdl, int32_t sms, cudaStream_t stream, const char** step) {
  const int64_t tiles = token_tiles_bound(p, NT * 8);
  void (*fc1)(MoeParams) = p.gated ? moe_narrow_nvfp4<true, true, NT> : moe_narrow_nvfp4<true, false, NT>;
  void (*fc2)(MoeParams) = moe_narrow_nvfp4<false, false, NT>;
  int64_t fc1_grid = 0, fc2_grid = 0;
  *step = "narrow GEMM occupancy query";
  cudaError_t e = persistent_grid(fc1, kThreads, 0, sms, tiles * (p.intermediate / (p.gated ? kRows : kTiles * kRows)), &fc1_grid);
  if (e == cudaSuccess) e = persistent_grid(fc2, kThreads, 0, sms, tiles * (p.hidden / (kTiles * kRows)), &fc2_grid);
  if (e != cudaSuccess) return e;
  *step = "narrow FC1 launch";
  if ((e = launch_kernel(fc1, dim3(static_cast<unsigned>(fc1_grid)), dim3(kThreads), 0, stream, pdl, p)) != cudaSuccess) return e;
  *step = "narrow FC2 launch";
  return launch_kernel(fc2, dim3(static_cast<unsigned>(fc2_grid)), dim3(kThreads), 0, stream, pdl, p);
}

}  // namespace

int32_t narrow_token_tile(bool nvfp4, int32_t hidden, int32_t intermediate, int64_t pairs, int32_t local_experts) {
  if (!nvfp4 || hidden % 64 != 0 || intermediate % 64 != 0 || local_experts <= 0) return 0;
  if (pairs > static_cast<int64_t>(kNarrowMaxTokensPerExpert) * local_experts) return 0;
  return pairs > static_cast<int64_t>(8) * local_experts ? 16 : 8;
}

cudaError_t launch_moe_narrow_nvfp4(const MoeParams& p, bool pdl, int32_t sms, cudaStream_t stream, const char** step) {
  switch (p.token_tile) {
    case 8: return launch_narrow<1>(p, pdl, sms, stream, step);
    case 16: return launch_narrow<2>(p, pdl, sms, stream, step);
    default: *step = "narrow GEMM launch (token tile)"; return cudaErrorInvalidValue;
  }
}

}  // namespace b12x
