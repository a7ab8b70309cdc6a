#include "quantize_nvfp4.cuh"
#include "../common/e2m1_fp16.cuh"
#include "../common/nvfp4_block.cuh"
#include "../common/pdl.cuh"
#include "narrow_operand.cuh"
#include "wgmma_operand.cuh"

namespace b12x {
namespace {

__device__ __forceinline__ void store_block(const QuantizedBlock& q, uint8_t* codes, uint8_t* scale) {
  *reinterpret_cast<uint2*>(codes) = make_uint2(q.codes[0], q.codes[1]);  // 8-byte aligned: block j at 8j
  *scale = static_cast<uint8_t>(q.scale);
}

// K step `step` of x row `x` quantised with gs as the step's wgmma chunks (chunk q, lane column c: pair q of block c,
// wgmma_operand.cuh); blocks past K are zero padding.
__device__ __forceinline__ void quantize_step(const MoeParams& p, const __nv_bfloat16* x, float gs, int32_t step,
                                              uint32_t (&chunks)[8][kBlocksPerWgmmaStep]) {
  const int32_t k_blocks = p.hidden / 16;
#pragma unroll
  for (int c = 0; c < kBlocksPerWgmmaStep; ++c) {
    const int32_t block = step * kBlocksPerWgmmaStep + c;
    uint32_t pairs[8] = {};
    if (block < k_blocks) {
      float v[16];
      load_bf16_block16(x + block * 16, v);
      const QuantizedBlock q = quantize_block16(v, gs);
      dequantize_block_fp16<true>(make_uint2(q.codes[0], q.codes[1]), e4m3_to_fp16x2_broadcast(q.scale), pairs);
    }
#pragma unroll
    for (int q = 0; q < 8; ++q) chunks[q][c] = pairs[q];
  }
}

// x_hat steps of a warp's 32 items staged in shared memory: each lane writes its step's 128 bytes, then the warp
// stores them as runs of 4 consecutive steps (512 bytes) per instruction. Stored directly, the 32 lanes' 16-byte
// stores land 128 bytes apart and the kernel wrote at about 0.9 TB/s (H200). 16 bytes of padding per step put the
// 8 lanes of each quarter-warp phase on distinct banks, both when staging and when reading back.
constexpr int kStepBytes = kWgmmaStepElements * 2;
constexpr int kStagedStepBytes = kStepBytes + 16;
constexpr int kQuantizeWarps = kQuantizeThreads / 32;
constexpr int kStepsPerRun = 32 * 16 / kStepBytes;  // steps one warp-wide 16-byte store covers
static_assert(kStepBytes == 8 * 16 && kStepsPerRun == 4, "a step is 8 chunks of 16 bytes; a run is 4 steps");
static_assert(kQuantizeWarps * 32 * kStagedStepBytes <= 48 * 1024, "static shared memory without opt-in");

// The staged steps of items base .. base + 31 into x_hat: the item's slot row, or the K slot rows of its token.
__device__ __forceinline__ void store_staged_steps(const MoeParams& p, const unsigned char* staged, int64_t base,
                                                   int64_t total, int32_t steps, bool per_token) {
  const int lane = threadIdx.x & 31, chunk = lane % 8;
  const int64_t pitch = wgmma_row_pitch(p.hidden);
#pragma unroll
  for (int run = 0; run < 32 / kStepsPerRun; ++run) {
    const int item = run * kStepsPerRun + lane / 8;
    if (base + item >= total) break;
    const uint4 v = *reinterpret_cast<const uint4*>(staged + item * kStagedStepBytes + chunk * 16);
    const int32_t row = static_cast<int32_t>((base + item) / steps), step = static_cast<int32_t>((base + item) % steps);
    const int64_t at = static_cast<int64_t>(step) * kWgmmaStepElements + chunk * 8;  // elements into the row
    if (per_token) {
      for (int32_t k = 0; k < p.top_k; ++k) {
        const int32_t slot = p.pair_slot[row * p.top_k + k];
        if (slot >= 0) *reinterpret_cast<uint4*>(p.x_hat + slot * pitch + at) = v;
      }
    } else {
      *reinterpret_cast<uint4*>(p.x_hat + row * pitch + at) = v;
    }
  }
}

}  // namespace

// One thread per (row, 64-element K step): the step's 4 blocks are quantised in turn, so that the row's lookups are
// made once per 4 blocks. Rows are slots, or tokens when every expert has the same gs1 and the tokens are fewer: the
// K slots of a token then get the same values, quantised once (qwen3-30b-a3b T=4096 computes 4096 rows instead of
// 32768). Warps walk the items 32 at a time, all lanes together, for the staged stores.
__global__ void __launch_bounds__(kQuantizeThreads) moe_quantize_fc1_input(MoeParams p) {
  __shared__ __align__(16) unsigned char staged[kQuantizeWarps][32 * kStagedStepBytes];
  const int32_t steps = static_cast<int32_t>(wgmma_steps(p.hidden));
  const int32_t slots = p.offsets[p.local_experts];
  const bool per_token = may_quantize_per_token(p) && p.tokens < slots;
  const int64_t total = static_cast<int64_t>(per_token ? p.tokens : slots) * steps;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kQuantizeWarps;
  for (int64_t base = (static_cast<int64_t>(blockIdx.x) * kQuantizeWarps + warp) * 32; base < total; base += warps * 32) {
    const int64_t i = base + lane;
    if (i < total) {
      const int32_t row = static_cast<int32_t>(i / steps), step = static_cast<int32_t>(i % steps);
      uint32_t chunks[8][kBlocksPerWgmmaStep];
      if (per_token) {
        quantize_step(p, p.x + static_cast<int64_t>(row) * p.hidden, p.input_scale(0), step, chunks);
      } else {
        const __nv_bfloat16* x = p.x + static_cast<int64_t>(p.slot_pair[row] / p.top_k) * p.hidden;
        quantize_step(p, x, p.input_scale(p.slot_expert[row]), step, chunks);
      }
      uint4* mine = reinterpret_cast<uint4*>(staged[warp] + lane * kStagedStepBytes);
#pragma unroll
      for (int q = 0; q < 8; ++q) mine[q] = make_uint4(chunks[q][0], chunks[q][1], chunks[q][2], chunks[q][3]);
    }
    __syncwarp();
    store_staged_steps(p, staged[warp], base, total, steps, per_token);
    __syncwarp();  // the next items' staging waits for these reads
  }
}

// One thread per 16-block of a slot: the whole call's blocks spread over as many threads, so a decode-sized call
// is one block's latency deep (with a 64-element step per thread, qwen3-30b-a3b T=8's 2,048 steps ran on 8 CTAs for
// about 6.5 us).
__global__ void __launch_bounds__(kQuantizeThreads) moe_quantize_fc1_codes(MoeParams p) {
  pdl_wait();  // the routing's slots; only after it may the kernel after this one start (its routing reads)
  pdl_launch_dependents();
  const int32_t blocks = p.hidden / 16;
  const int64_t total = static_cast<int64_t>(p.offsets[p.local_experts]) * blocks;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t slot = static_cast<int32_t>(i / blocks), b = static_cast<int32_t>(i % blocks);
    float v[16];
    load_bf16_block16(p.x + static_cast<int64_t>(p.slot_pair[slot] / p.top_k) * p.hidden + 16 * b, v);
    const QuantizedBlock q = quantize_block16(v, p.input_scale(p.slot_expert[slot]));
    if (p.x_fp16 != nullptr) {  // the 8-token narrow kernels read exact fp16 values (narrow_operand.cuh)
      store_narrow_block(p.x_fp16 + static_cast<int64_t>(slot) * (p.hidden / 2), b, make_uint2(q.codes[0], q.codes[1]), q.q);
    } else {
      store_block(q, p.xq_codes + static_cast<int64_t>(slot) * (p.hidden / 2) + 8 * b,
                  p.xq_scales + static_cast<int64_t>(slot) * scale_row_pitch(p.hidden) + b);
    }
  }
}

__global__ void nvfp4_quantize_rows(const __nv_bfloat16* x, int32_t rows, int32_t cols, const float* global_scale,
                                    uint8_t* codes, uint8_t* scales) {
  const int32_t blocks_per_row = cols / 16;
  const int64_t total = static_cast<int64_t>(rows) * blocks_per_row;
  const float gs = *global_scale;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v[16];
    load_bf16_block16(x + i * 16, v);
    store_block(quantize_block16(v, gs), codes + i * 8, scales + i);
  }
}

}  // namespace b12x
