#include "moe_micro_nvfp4.cuh"

#include "../common/cp_async.cuh"
#include "../common/e2m1.cuh"
#include "../common/e2m1_fp16.cuh"
#include "../common/mma_sync.cuh"
#include "../common/nvfp4_block.cuh"
#include "../common/pdl.cuh"
#include "../common/tile_shapes.h"
#include "../dispatch/kernel_facts.h"
#include "fc_epilogue.cuh"

namespace b12x {
namespace {

constexpr int kSplit = kMicroNvfp4Warps;          // warps of a CTA, each taking every kSplit-th slab of K
constexpr int kThreads = kSplit * 32;
constexpr int kRows = 16;                         // M of mma.m16n8k16: the CTA's rows of each weight matrix
constexpr int kSlabCodeBytes = kSlabBlocks * 8;   // code bytes of one row in a slab
constexpr int kStages = kMicroSlabsInFlight;
static_assert(kThreads >= 2 * 16, "the epilogues use one thread per row of the CTA's two 16-row tiles");


// Each warp's ring of slabs in flight. Lane (g, c) copies, and later reads, only its own entries: 16 code bytes
// (blocks 2c and 2c+1 of the slab) and the 4-byte scale word holding their scales, for rows g and g+8 of each
// matrix. No lane reads another's, so the copies need no barrier, only cp.async.wait_group.
template <int NA>
struct SlabRing {
  uint4 codes[kSplit][kStages][NA * 2][32];
  uint32_t scales[kSplit][kStages][NA * 2][32];
};
static_assert(sizeof(SlabRing<2>) <= 24 * 1024, "gate + up ring: 5 CTAs per SM beside a staged row of up to 14 KB");

// This lane's weight sources for rows g and g+8 of NA matrices: pointers at slab 0, a fixed offset per slab.
template <int NA>
struct SlabSource {
  const uint8_t* codes[NA][2];   // the row's codes of block 2c of slab 0
  const uint8_t* scales[NA][2];  // the row's scale word of blocks 4 * (c / 2) .. + 3 of slab 0 (4-byte aligned)
  int32_t scale_step;            // scale bytes from one slab to the next: two 4-block words
  int32_t k_blocks;
  bool wide;                     // the matrix starts 16-byte aligned: one 16-byte copy per lane and row, past L1

  __device__ __forceinline__ void bind(const uint8_t* matrix, const uint8_t* scale_tensor, const ScaleAddressing& sa,
                                       int32_t expert, int32_t k, const int32_t (&row)[NA][2]) {
    const int c = threadIdx.x & 3;
    k_blocks = k / 16;
    scale_step = 2 * sa.four_block_stride();
    wide = (reinterpret_cast<uintptr_t>(matrix) & 15u) == 0;  // rows are K / 2 bytes apart, K % 64 == 0
#pragma unroll
    for (int a = 0; a < NA; ++a) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        codes[a][r] = matrix + static_cast<int64_t>(row[a][r]) * (k / 2) + c * 16;
        scales[a][r] = scale_tensor + sa.offset(expert, row[a][r], 4 * (c >> 1));
      }
    }
  }

  // Copies slab `slab` into `stage` of this warp's ring and commits it as one group. K % 64 == 0, so a lane's two
  // blocks and its scale word are either all inside K or all past it (zero-filled: zero codes and zero scales).
  __device__ __forceinline__ void issue(SlabRing<NA>& ring, int stage, int32_t slab) const {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, c = lane & 3;
    const bool valid = slab * kSlabBlocks + 2 * c < k_blocks;
    const int32_t code_offset = valid ? slab * kSlabCodeBytes : 0;  // a zero-filled copy reads nothing: slab 0 stands in
    const int32_t scale_offset = valid ? slab * scale_step : 0;
#pragma unroll
    for (int a = 0; a < NA; ++a) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        cp_async_chunk16(&ring.codes[warp][stage][2 * a + r][lane], codes[a][r] + code_offset, wide, valid);
        cp_async4(&ring.scales[warp][stage][2 * a + r][lane], scales[a][r] + scale_offset, valid);
      }
    }
    cp_async_commit();
  }
};

// The first kStages slabs of this warp, issued before the staged token row is read so that the weight stream starts
// at once. Every warp commits kStages groups (empty past its last slab) so the wait count in block_sum_mainloop holds.
template <int NA>
__device__ __forceinline__ void issue_first_slabs(const SlabSource<NA>& src, SlabRing<NA>& ring, int32_t slabs) {
  const int warp = threadIdx.x >> 5;
#pragma unroll
  for (int s = 0; s < kStages; ++s) {
    const int32_t slab = warp + s * kSplit;
    if (slab < slabs) src.issue(ring, s, slab); else cp_async_commit();
  }
}

__device__ __forceinline__ void load_token_block(const uint32_t* src, uint32_t (&words)[8]) {
  const uint4 lo = reinterpret_cast<const uint4*>(src)[0], hi = reinterpret_cast<const uint4*>(src)[1];
  words[0] = lo.x; words[1] = lo.y; words[2] = lo.z; words[3] = lo.w;
  words[4] = hi.x; words[5] = hi.y; words[6] = hi.z; words[7] = hi.w;
}

// acc[a][r] += exact 16-block sums of row (g, g+8)[r] of matrix a against the staged token, over this warp's slabs,
// 2^-14 times the true value (e2m1_fp16.cuh). In a slab, the n8 tile's column j is block j: lane (g, c) gives the A
// fragment pairs of blocks 2c (k = 2c, 2c+1) and 2c+1 (k = 2c+8, 2c+9), and the B fragment is the token's pairs of
// block g in the one lane of its column that owns block g (b0 when g == 2c, b1 when g == 2c+1) and zero elsewhere
// (read from `zeros`, one zero block after the staged row).
// Eight MMAs cover the slab's 16 pairs per block; D[row][j] is then block j's sum, found in the lane that owns it.
template <int NA>
__device__ __forceinline__ void block_sum_mainloop(const SlabSource<NA>& src, SlabRing<NA>& ring,
                                                   const uint32_t* tokens, const uint32_t* zeros, int32_t slabs,
                                                   float (&acc)[NA][2]) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  // B sources: block g of each slab where this lane owns column g's k-range, else a zero block (no select per MMA).
  constexpr int32_t kSlabWords = kSlabBlocks * 8;
  const uint32_t* b0_src = g == 2 * c ? tokens + g * 8 : zeros;
  const uint32_t* b1_src = g == 2 * c + 1 ? tokens + g * 8 : zeros;
  const int32_t b0_step = g == 2 * c ? kSlabWords : 0, b1_step = g == 2 * c + 1 ? kSlabWords : 0;
  const int scale_shift = 16 * (c & 1);  // this lane's two scale bytes within the 4-block word
  int stage = 0;
  for (int32_t slab = warp; slab < slabs; slab += kSplit) {
    cp_async_wait<kStages - 1>();
    uint32_t b0[8], b1[8];
    load_token_block(b0_src + slab * b0_step, b0);
    load_token_block(b1_src + slab * b1_step, b1);
    uint4 w[NA][2];
    uint32_t scale_word[NA][2];
#pragma unroll
    for (int a = 0; a < NA; ++a) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        w[a][r] = ring.codes[warp][stage][2 * a + r][lane];
        scale_word[a][r] = ring.scales[warp][stage][2 * a + r][lane];
      }
    }
    float d[NA][4] = {};
#pragma unroll
    for (int half = 0; half < 2; ++half) {  // code words: elements 0..7, then 8..15 of each block
#pragma unroll
      for (int a = 0; a < NA; ++a) {
        uint32_t low0[4], low1[4], high0[4], high1[4];  // rows g, g+8 x blocks 2c, 2c+1
        e2m1_word_fp16(half == 0 ? w[a][0].x : w[a][0].y, low0);
        e2m1_word_fp16(half == 0 ? w[a][1].x : w[a][1].y, low1);
        e2m1_word_fp16(half == 0 ? w[a][0].z : w[a][0].w, high0);
        e2m1_word_fp16(half == 0 ? w[a][1].z : w[a][1].w, high1);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int t = 4 * half + i;
          mma_16816<MmaOperands::kFp16>(d[a], low0[i], low1[i], high0[i], high1[i], b0[t], b1[t]);
        }
      }
    }
    asm volatile("" ::: "memory");  // this stage's shared reads stay before the copy that refills it
    const int32_t next = slab + kStages * kSplit;
    if (next < slabs) src.issue(ring, stage, next); else cp_async_commit();
#pragma unroll
    for (int a = 0; a < NA; ++a) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {  // d: (row g, block 2c), (g, 2c+1), (g+8, 2c), (g+8, 2c+1)
        const float2 s = e4m3x2_to_float2(scale_word[a][r] >> scale_shift);
        acc[a][r] = __fmaf_rn(d[a][2 * r], s.x, acc[a][r]);
        acc[a][r] = __fmaf_rn(d[a][2 * r + 1], s.y, acc[a][r]);
      }
    }
    stage = stage + 1 == kStages ? 0 : stage + 1;
  }
}

// Sums of the CTA's rows over all K: the 4 lanes of a row (pairwise, the same bits in every lane), then the warps in
// warp order; row i of matrix a lands in sums[a][i], restored by kBlockSumFix. Every thread must call it.
template <int NA>
__device__ __forceinline__ void reduce_rows(float (&acc)[NA][2], float (&partial)[kSplit][NA][kRows],
                                            float (&sums)[NA][kRows]) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
#pragma unroll
  for (int a = 0; a < NA; ++a) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      acc[a][r] = __fadd_rn(acc[a][r], __shfl_xor_sync(0xFFFFFFFFu, acc[a][r], 1));
      acc[a][r] = __fadd_rn(acc[a][r], __shfl_xor_sync(0xFFFFFFFFu, acc[a][r], 2));
      if (c == 0) partial[warp][a][g + 8 * r] = acc[a][r];
    }
  }
  __syncthreads();
  if (threadIdx.x < NA * kRows) {
    const int a = threadIdx.x / kRows, i = threadIdx.x % kRows;
    float s = partial[0][a][i];
#pragma unroll
    for (int w = 1; w < kSplit; ++w) s = __fadd_rn(s, partial[w][a][i]);
    sums[a][i] = s * kBlockSumFix;
  }
  __syncthreads();
}

// Block b of an NVFP4 row (codes: elements 0..7 in .x, 8..15 in .y; q: its decoded scale) as 8 fp16 pairs of the
// exact values, in block order (e2m1_fp16.cuh), at words 8b.. of a row in global or shared memory.
__device__ __forceinline__ void store_block_values(uint32_t* tokens, int32_t b, uint2 codes, float q) {
  uint32_t words[8];
#pragma unroll
  for (int t = 0; t < 8; ++t) {
    const int low = block_order_low(t), high = low + 4;
    const uint32_t lo_code = ((low < 8 ? codes.x : codes.y) >> (4 * (low & 7))) & 0xFu;
    const uint32_t hi_code = ((high < 8 ? codes.x : codes.y) >> (4 * (high & 7))) & 0xFu;
    words[t] = fp16x2_bits(__fmul_rn(e2m1_decode(lo_code), q), __fmul_rn(e2m1_decode(hi_code), q));
  }
  uint4* dst = reinterpret_cast<uint4*>(tokens + static_cast<int64_t>(b) * 8);
  dst[0] = make_uint4(words[0], words[1], words[2], words[3]);
  dst[1] = make_uint4(words[4], words[5], words[6], words[7]);
}

// Step 1 for every routed pair of the call, one 16-block per thread: the pair's x block quantised with its expert's
// gs1, stored as exact fp16 values in block order into the pair's x_fp16 row, so that FC1's CTAs copy the row
// instead of each quantising it again. Pairs without a local expert are skipped.
__global__ void __launch_bounds__(kThreads) moe_micro_nvfp4_quantize(MoeParams p) {
  pdl_launch_dependents();
  const int32_t blocks = p.hidden / 16;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<int64_t>(p.pairs()) * blocks) return;
  const int32_t pair = static_cast<int32_t>(i / blocks), b = static_cast<int32_t>(i % blocks);
  // x first: its load does not depend on the routing, so it overlaps the id's and then gs1's, which FC1's and FC2's
  // early weight loads slow down (this kernel is on the call's critical path).
  float v[16];
  load_bf16_block16(p.x + static_cast<int64_t>(pair / p.top_k) * p.hidden + 16 * b, v);
  const int32_t l = p.local_expert_of(pair);
  if (l < 0) return;
  const QuantizedBlock q = quantize_block16(v, p.input_scale(l));
  store_block_values(p.x_fp16 + static_cast<int64_t>(pair) * (p.hidden / 2), b, make_uint2(q.codes[0], q.codes[1]), q.q);
}

// The pair's staged row (K / 2 fp16 pairs written by the kernel before this one) into shared memory, then zero blocks
// up to whole slabs and the one zero block the MMAs read in lanes that own no column. Every thread must call it.
__device__ __forceinline__ void load_staged_row(const uint32_t* staged, int32_t k, int32_t slabs, uint32_t* tokens) {
  pdl_wait();
  const uint4* src = reinterpret_cast<const uint4*>(staged);
  uint4* dst = reinterpret_cast<uint4*>(tokens);
  const int32_t chunks = k / 8, padded_chunks = (slabs * kSlabBlocks + 1) * 2;  // 16 bytes = 8 values
  for (int32_t j = threadIdx.x; j < padded_chunks; j += blockDim.x) dst[j] = j < chunks ? src[j] : make_uint4(0u, 0u, 0u, 0u);
  __syncthreads();
}

// Steps 3 and 4 for the CTA's 16 features, one per lane of lanes 0..15: the activation, bf16, then the NVFP4 block
// quantised across the lanes; its codes and scale go into the aq plane (the intermediate-codes export reads them) and
// its exact values into the pair's a_fp16 row for FC2.
template <bool kGated>
__device__ __forceinline__ void finish_fc1_block(const MoeParams& p, int32_t pair, int32_t l, int32_t n_first, float up,
                                                 float gate) {
  const int i = threadIdx.x;
  const LaneBlock b = quantize_block_across_lanes(fc1_activation<kGated>(p.alpha1(l), up, gate), p.gs2.at(l));
  if (i == 0) store_fc1_codes(p, pair, n_first, b.codes, b.scale);
  __half* values = reinterpret_cast<__half*>(p.a_fp16 + static_cast<int64_t>(pair) * (p.intermediate / 2) + n_first / 2);
  values[block_order_position(i)] = __float2half_rn(__fmul_rn(e2m1_decode(b.code), b.q));
}

template <bool kGated>
__global__ void __launch_bounds__(kThreads) moe_micro_nvfp4_fc1(MoeParams p) {
  constexpr int NA = kGated ? 2 : 1;
  extern __shared__ __align__(16) unsigned char dynamic_smem[];
  __shared__ SlabRing<NA> ring;
  __shared__ float partial[kSplit][NA][kRows];
  __shared__ float sums[NA][kRows];
  pdl_launch_dependents();
  const int32_t row_groups = p.intermediate / kRows;
  const int32_t pair = blockIdx.x / row_groups;
  const int32_t n_first = (blockIdx.x % row_groups) * kRows;
  const int32_t l = p.local_expert_of(pair);
  if (l < 0) {  // the whole CTA leaves together, after the kernel before (pdl.cuh: no grid completes before it)
    pdl_wait();
    return;
  }
  const int g = (threadIdx.x & 31) >> 2;
  int32_t rows[NA][2];
#pragma unroll
  for (int a = 0; a < NA; ++a) {  // a = 0: up (or the relu2 rows), a = 1: gate
    rows[a][0] = a * p.intermediate + n_first + g;
    rows[a][1] = a * p.intermediate + n_first + g + 8;
  }
  SlabSource<NA> src;
  src.bind(p.w1 + static_cast<int64_t>(l) * p.w1_rows * (p.hidden / 2), p.w1_scales, p.w1_sa, l, p.hidden, rows);
  const int32_t slabs = slabs_of(p.hidden);
  issue_first_slabs(src, ring, slabs);  // the weights are the caller's: no need to wait for the kernel before
  uint32_t* tokens = reinterpret_cast<uint32_t*>(dynamic_smem);
  load_staged_row(p.x_fp16 + static_cast<int64_t>(pair) * (p.hidden / 2), p.hidden, slabs, tokens);

  float acc[NA][2] = {};
  block_sum_mainloop(src, ring, tokens, tokens + slabs * kSlabBlocks * 8, slabs, acc);
  reduce_rows(acc, partial, sums);
  if (threadIdx.x < kRows) finish_fc1_block<kGated>(p, pair, l, n_first, sums[0][threadIdx.x], sums[NA - 1][threadIdx.x]);
}

// FC2 takes two 16-row tiles of w2 per CTA (the two "matrices" of the slab ring), so that the per-slab work of a
// lane (token block loads, addressing, the loop) is spread over as many weights as in the gated FC1.
constexpr int kFc2Tiles = 2;

__global__ void __launch_bounds__(kThreads) moe_micro_nvfp4_fc2(MoeParams p) {
  extern __shared__ __align__(16) unsigned char dynamic_smem[];
  __shared__ SlabRing<kFc2Tiles> ring;
  __shared__ float partial[kSplit][kFc2Tiles][kRows];
  __shared__ float sums[kFc2Tiles][kRows];
  pdl_launch_dependents();
  const int32_t row_groups = p.hidden / (kFc2Tiles * kRows);
  const int32_t pair = blockIdx.x / row_groups;
  const int32_t h_first = (blockIdx.x % row_groups) * (kFc2Tiles * kRows);
  const int32_t l = p.local_expert_of(pair);
  if (l < 0) {
    pdl_wait();
    return;
  }
  const int g = (threadIdx.x & 31) >> 2;
  int32_t rows[kFc2Tiles][2];
#pragma unroll
  for (int a = 0; a < kFc2Tiles; ++a) {
    rows[a][0] = h_first + a * kRows + g;
    rows[a][1] = h_first + a * kRows + g + 8;
  }
  SlabSource<kFc2Tiles> src;
  src.bind(p.w2 + static_cast<int64_t>(l) * p.hidden * (p.intermediate / 2), p.w2_scales, p.w2_sa, l, p.intermediate,
           rows);
  const int32_t slabs = slabs_of(p.intermediate);
  issue_first_slabs(src, ring, slabs);

  uint32_t* tokens = reinterpret_cast<uint32_t*>(dynamic_smem);
  load_staged_row(p.a_fp16 + static_cast<int64_t>(pair) * (p.intermediate / 2), p.intermediate, slabs, tokens);

  float acc[kFc2Tiles][2] = {};
  block_sum_mainloop(src, ring, tokens, tokens + slabs * kSlabBlocks * 8, slabs, acc);
  reduce_rows(acc, partial, sums);
  if (threadIdx.x < kFc2Tiles * kRows) {
    const int a = threadIdx.x / kRows, i = threadIdx.x % kRows;
    store_fc2_row(p, pair, l, h_first + a * kRows + i, sums[a][i]);
  }
}

using MicroKernel = void (*)(MoeParams);

MicroKernel fc1_of(bool gated) { return gated ? moe_micro_nvfp4_fc1<true> : moe_micro_nvfp4_fc1<false>; }

// The staged token row: 8 fp16 pairs per block for whole slabs, and one zero block.
size_t staged_bytes(int32_t k) { return (static_cast<size_t>(slabs_of(k)) * kSlabBlocks + 1) * 32; }

}  // namespace

bool micro_block_sums_apply(bool nvfp4, int32_t hidden, int32_t intermediate) {
  static_assert(kFc2Tiles * kRows <= 64, "FC2's row tiles divide H when H % 64 == 0");
  return nvfp4 && hidden % 64 == 0 && intermediate % 64 == 0;
}

cudaError_t micro_nvfp4_shared_bytes(int32_t hidden, int32_t intermediate, bool gated, size_t* bytes) {
  size_t fc1 = 0, fc2 = 0;
  cudaError_t e = static_shared_bytes(reinterpret_cast<const void*>(fc1_of(gated)), &fc1);
  if (e == cudaSuccess) e = static_shared_bytes(reinterpret_cast<const void*>(moe_micro_nvfp4_fc2), &fc2);
  if (e != cudaSuccess) return e;
  const size_t first = fc1 + staged_bytes(hidden);
  const size_t second = fc2 + staged_bytes(intermediate);
  *bytes = first > second ? first : second;
  return cudaSuccess;
}

cudaError_t launch_moe_micro_nvfp4(const MoeParams& p, bool pdl, int32_t sms, cudaStream_t stream, const char** step) {
  const int64_t pairs = static_cast<int64_t>(p.tokens) * p.top_k;
  const unsigned quantize_grid = static_cast<unsigned>((pairs * (p.hidden / 16) + kThreads - 1) / kThreads);
  const unsigned fc1_grid = static_cast<unsigned>(pairs * (p.intermediate / kRows));
  const unsigned fc2_grid = static_cast<unsigned>(pairs * (p.hidden / (kFc2Tiles * kRows)));
  const size_t fc1_smem = staged_bytes(p.hidden), fc2_smem = staged_bytes(p.intermediate);
  const MicroKernel fc1 = fc1_of(p.gated);
  cudaError_t e;
  *step = "micro NVFP4 shared-memory opt-in";
  if ((e = allow_dynamic_shared(reinterpret_cast<const void*>(fc1), fc1_smem)) != cudaSuccess ||
      (e = allow_dynamic_shared(reinterpret_cast<const void*>(moe_micro_nvfp4_fc2), fc2_smem)) != cudaSuccess) {
    return e;
  }
  *step = "micro NVFP4 input quantisation launch";
  if ((e = launch_kernel(moe_micro_nvfp4_quantize, dim3(quantize_grid), dim3(kThreads), 0, stream, false, p)) != cudaSuccess) {
    return e;
  }
  *step = "micro NVFP4 FC1 launch";
  if ((e = launch_kernel(fc1, dim3(fc1_grid), dim3(kThreads), fc1_smem, stream, pdl, p)) != cudaSuccess) return e;
  // An FC2 grid of under two CTAs per SM starts plainly: launched early, its CTAs would crowd the SMs that finish FC1
  // first, while a plain launch spreads them (H200, mixtral-8x7b T=1, 256 CTAs: 95 us plain, 117 us early).
  const bool fc2_pdl = pdl && fc2_grid >= 2u * static_cast<unsigned>(sms);
  *step = "micro NVFP4 FC2 launch";
  return launch_kernel(moe_micro_nvfp4_fc2, dim3(fc2_grid), dim3(kThreads), fc2_smem, stream, fc2_pdl, p);
}

}  // namespace b12x
