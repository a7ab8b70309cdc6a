// One K step of a tiled work item staged in shared memory: its weight rows (codes + their 4 block scales) and the
// tile's TN tokens, copied with cp.async by the mma.sync kernels (moe_gemm_tiled.cu: 128 rows, tokens as NVFP4 codes
// + scales or bf16 values). The warpgroup-MMA kernels (moe_gemm_wgmma.cu: 256 rows) fill their stages with their own
// bulk copies and take from here the work items and the output stores (bind, store_token); only the mma.sync kernels
// call bind_copies for the copy sources.
//
// Staged weight rows i = 0..R-1 of a work item: FC1 silu: up rows of features [row0, row0+R/2) then the gate rows of
// the same features (so a feature's up and gate land in the same lane); relu2 and FC2: rows [row0, row0+R).
#pragma once
#include <cstdint>
#include "../common/cp_async.cuh"
#include "fc_epilogue.cuh"
#include "grouped_gemm_sm80.cuh"

namespace b12x {

constexpr int kStageBlocks = 4;        // 4 x 16 = 64 K elements per step
constexpr int kStageCodeBytes = kStageBlocks * 8;
constexpr int kStageValuePitch = 64 + 8;  // bf16 per token row of a W4A16 stage: 64 values + 16 B against bank conflicts
static_assert(kStageBlocks == kBlocksPerStep, "a stage is one K step of grouped_gemm_sm80.cuh's block order");

// The weight part of a stage: kRows rows of code bytes, then their 4 scale bytes each.
template <int kRows>
struct WeightStage {
  static constexpr int kACodes = 0;
  static constexpr int kAScales = kACodes + kRows * kStageCodeBytes;
  static constexpr int kBytes = kAScales + kRows * kStageBlocks;
};

// A stage of the mma.sync kernels: 128 weight rows, then TN tokens' codes and scales (NVFP4) or bf16 values.
template <int TN, bool kFp4B>
struct StageLayout : WeightStage<128> {
  static constexpr int kB = WeightStage<128>::kBytes;
  static constexpr int kBScales = kB + TN * kStageCodeBytes;  // FP4 only
  static constexpr int kBytes = kFp4B ? kBScales + TN * kStageBlocks : kB + TN * kStageValuePitch * 2;
  static_assert(kBytes % 16 == 0 && kB % 16 == 0, "16-byte aligned planes");
};

// kRows weight rows per work item (128, or 256 for the wgmma kernels), copied by kThreads threads.
template <int TN, bool kFc1, bool kGated, bool kFp4B, int kRows = 128, int kThreads = 128>
struct TileStager {
  using L = StageLayout<TN, kFp4B>;
  using W = WeightStage<kRows>;
  static constexpr int kFeatures = (kFc1 && kGated) ? kRows / 2 : kRows;  // output rows (features) per work item
  static constexpr int kCopies = kRows * kStageBlocks / kThreads;          // 8-byte weight code copies per thread and step
  static constexpr int kWideCopies = kCopies / 2;                          // 16-byte ones, two blocks each
  static_assert(kThreads >= kRows, "one thread per row copies its scale bytes");
  static_assert(kCopies % 2 == 0, "a thread's 8-byte copies pair up into 16-byte ones");

  const MoeParams& p;
  WorkItem w;
  int32_t k;          // reduction length
  int32_t k_blocks;
  int32_t n_rows;     // valid rows of the output dimension (I or H)
  const uint8_t* codes;   // this expert's weight matrix
  const uint8_t* scales;
  ScaleAddressing sa;
  // This thread's copies of each step: the code bytes of (row, block) = (tid/4 + j*kThreads/4, tid%4) or, wide, of
  // (row, blocks 2h and 2h + 1) = (tid/2 + j*kThreads/2, tid%2) and, for tid < kRows, the 4 scale bytes of row tid,
  // all at K step 0; nullptr for rows past the matrix.
  const uint8_t* a_src[kCopies];
  // 16-byte copies (cp.async.cg, not through L1) where every row's step is 16-byte aligned: K % 32 == 0 and the
  // weight tensor's base aligned; the 8-byte copies go through L1 (cp.async.ca), which a large shared-memory carve-out
  // leaves small.
  bool wide;
  const uint8_t* a_scale_src;
  int32_t scale_step;     // scale bytes per K step

  // Work item `item` of this GEMM (decode_work_item's numbering); false past the last one.
  __device__ __forceinline__ bool bind(int32_t item) {
    n_rows = kFc1 ? p.intermediate : p.hidden;
    const int32_t row_tiles = (n_rows + kFeatures - 1) / kFeatures;
    if (!decode_work_item(p, item, row_tiles, kFeatures, w)) return false;
    k = kFc1 ? p.hidden : p.intermediate;
    k_blocks = k / 16;
    codes = kFc1 ? p.w1 + static_cast<int64_t>(w.expert) * p.w1_rows * (p.hidden / 2)
                 : p.w2 + static_cast<int64_t>(w.expert) * p.hidden * (p.intermediate / 2);
    scales = kFc1 ? p.w1_scales : p.w2_scales;
    sa = kFc1 ? p.w1_sa : p.w2_sa;
    return true;
  }

  // After bind: this thread's copy sources for issue_weights and issue.
  __device__ __forceinline__ void bind_copies() {
    const int32_t row_bytes = k / 2;
    wide = k % 32 == 0 && (reinterpret_cast<uintptr_t>(kFc1 ? p.w1 : p.w2) & 15u) == 0;
    const int per_row = wide ? kStageBlocks / 2 : kStageBlocks, bytes = wide ? 16 : 8;
#pragma unroll
    for (int j = 0; j < kCopies; ++j) {
      const int32_t i = threadIdx.x + j * kThreads, row = i / per_row < kRows ? weight_row(i / per_row) : -1;
      a_src[j] = row >= 0 ? codes + static_cast<int64_t>(row) * row_bytes + (i % per_row) * bytes : nullptr;
    }
    const int32_t row = threadIdx.x < kRows ? weight_row(threadIdx.x) : -1;
    a_scale_src = row >= 0 ? scales + sa.offset(w.expert, row, 0) : nullptr;
    scale_step = sa.four_block_stride();
  }

  __device__ __forceinline__ int32_t steps() const { return (k_blocks + kStageBlocks - 1) / kStageBlocks; }

  // Global weight row of staged row i, or -1 when past the matrix.
  __device__ __forceinline__ int32_t weight_row(int32_t i) const {
    if constexpr (kFc1 && kGated) {
      const int32_t feature = w.row0 + i % kFeatures;
      return feature < n_rows ? (i < kFeatures ? feature : n_rows + feature) : -1;
    } else {
      const int32_t row = w.row0 + i;
      return row < n_rows ? row : -1;
    }
  }

  // Copies the weight part of K step `step` into the stage at st.
  __device__ __forceinline__ void issue_weights(unsigned char* st, int32_t step) const {
    const int32_t kb0 = step * kStageBlocks;
    if (wide) {
#pragma unroll
      for (int j = 0; j < kWideCopies; ++j) {
        const int32_t i = threadIdx.x + j * kThreads;
        const bool valid = a_src[j] != nullptr && kb0 + 2 * (i % 2) < k_blocks;  // K % 32 == 0: both blocks or none
        cp_async16(st + W::kACodes + i * 16, valid ? a_src[j] + step * kStageCodeBytes : codes, valid);
      }
    } else {
#pragma unroll
      for (int j = 0; j < kCopies; ++j) {
        const int32_t i = threadIdx.x + j * kThreads;
        const bool valid = a_src[j] != nullptr && kb0 + i % kStageBlocks < k_blocks;
        cp_async8(st + W::kACodes + i * 8, valid ? a_src[j] + step * kStageCodeBytes : codes, valid);
      }
    }
    if (threadIdx.x < kRows) {
      const bool valid = a_scale_src != nullptr && kb0 < k_blocks;
      cp_async4(st + W::kAScales + threadIdx.x * 4, valid ? a_scale_src + step * scale_step : scales, valid);
    }
  }

  // Copies K step `step` (weights and the mma.sync kernels' token operand) into the stage at st; one commit group.
  __device__ __forceinline__ void issue(unsigned char* st, int32_t step) const {
    const int32_t kb0 = step * kStageBlocks;
    const int32_t row_bytes = k / 2;
    issue_weights(st, step);
    // Tokens past the tile's slots are not copied: their columns of the MMA tiles are computed but never written.
    if constexpr (kFp4B) {
      const uint8_t* b_codes = kFc1 ? p.xq_codes : p.aq_codes;
      const uint8_t* b_scales = kFc1 ? p.xq_scales : p.aq_scales;
      const int32_t pitch = scale_row_pitch(k);
      for (int i = threadIdx.x; i < w.slots * kStageBlocks; i += kThreads) {
        const int32_t token = i / kStageBlocks, kb = kb0 + i % kStageBlocks;
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
        cp_async16(st + L::kB + (token * kStageValuePitch + (i % 8) * 8) * 2, src, valid);
      }
    }
    cp_async_commit();
  }

  // Token `token` of a staged NVFP4 block `block`: its 16 exact values in block order (e2m1_bf16.cuh), or zeros for
  // a block past K (padding scale bytes are never trusted).
  __device__ __forceinline__ void dequantize_token_block(const unsigned char* st, int32_t step, int token, int block,
                                                         uint32_t (&v)[8]) const {
    const int i = token * kStageBlocks + block;
    const bool valid = step * kStageBlocks + block < k_blocks;
    const uint2 raw = *reinterpret_cast<const uint2*>(st + L::kB + i * 8);
    dequantize_block_ordered(raw, valid ? e4m3_to_bf16x2(st[L::kBScales + i]) : 0u, v);
  }

  // The weight registers of one lane for staged rows row[t][r] (g and g+8 of its MMA tiles) at K step `step`.
  template <int NA>
  __device__ __forceinline__ void load_weights(const unsigned char* st, int32_t step, const int (&row)[NA][2],
                                               WeightStep<NA>& ws) const {
    const int c = threadIdx.x & 3;
    const bool k_valid = step * kStageBlocks + c < k_blocks;
#pragma unroll
    for (int t = 0; t < NA; ++t) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        ws.raw[t][r] = *reinterpret_cast<const uint2*>(st + W::kACodes + row[t][r] * kStageCodeBytes + c * 8);
        ws.scale[t][r] = k_valid ? weight_scale_bf16x2(st[W::kAScales + row[t][r] * 4 + c]) : 0u;
      }
    }
  }

  // Writes one token's finished fp32 values of 16-feature blocks b = 0..NB-1 (v[16b + i] is feature first[b] + i):
  // FC1 -> the FC2-input block of its slot; FC2 -> its y row, scaled by fp32(w * alpha2). Blocks past n_rows are
  // skipped.
  template <int NB>
  __device__ __forceinline__ void store_token(int32_t local, const float* v, const int32_t (&first)[NB]) const {
    const int64_t slot = w.first_slot + local;
    if constexpr (kFc1) {
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        if (first[b] >= n_rows) continue;
        float block[16];
#pragma unroll
        for (int i = 0; i < 16; ++i) block[i] = v[16 * b + i];
        store_fc1_block<kFp4B>(p, slot, w.expert, first[b], block);
      }
    } else {
      const int32_t pair = p.slot_pair[slot];
      const float scale = fc2_row_scale(p, pair, w.expert);
      float* y = p.y + static_cast<int64_t>(pair) * p.hidden;
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        if (first[b] >= n_rows) continue;
        float4* dst = reinterpret_cast<float4*>(y + first[b]);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          dst[q] = make_float4(__fmul_rn(scale, v[16 * b + 4 * q]), __fmul_rn(scale, v[16 * b + 4 * q + 1]),
                               __fmul_rn(scale, v[16 * b + 4 * q + 2]), __fmul_rn(scale, v[16 * b + 4 * q + 3]));
        }
      }
    }
  }
};

}  // namespace b12x
