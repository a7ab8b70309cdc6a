// Tiled FC1/FC2 of the dynamic strategy on Hopper (sm_90a images only): warpgroup MMA with the weights as the A side,
// dequantised in registers, and the tokens as the B side in shared memory.
//
// CTA = four warpgroups over 256 weight rows x 128 tokens, persistent with the same work queue and work items as
// moe_gemm_tiled.cu. Warpgroup u owns one wgmma M tile of 64 staged rows; warp w of it holds 16 of them:
//   FC1 silu  : staged rows 0..127 are the up rows of features [row0, row0+128), 128..255 their gate rows;
//               warpgroup u takes features 32u..32u+31: warps 0, 1 their up rows, warps 2, 3 their gate rows.
//   relu2, FC2: warpgroup u takes rows [row0 + 64u, +64), warp w rows 16w.. of them.
// Shape, measured on an H200 (b12x bench, T = 512, 4096, 16384 on every named shape): four warpgroups of one M tile
// beat two warpgroups of two M tiles (256 x 128) and two of one M tile over 256 tokens (128 x 256) on every row,
// e.g. deepseek-v3 T=4096 12.0 against 13.1 and 13.6 ms: the per-step work is latency-bound, and 16 warps per SM (127
// registers each) hide more of it than 8.
// Operands are fp16, products exact (e2m1_fp16.cuh): weights code x scale x 2^-14, tokens code x scale. The tokens
// are not dequantised here: the step-1 quantiser and FC1's epilogue wrote their exact values once per slot, in wgmma's
// chunk order (wgmma_operand.cuh), so a stage's B tile is a copy of 128-byte rows into the
// 128-byte swizzle (wgmma.cuh), one row per token.
// A K step is 64 elements (4 blocks, one per lane column c, in grouped_gemm_sm80.cuh's block order):
//   1. a kStages-deep ring of stages is kept filled with bulk copies (tma.cuh), kLookahead steps ahead: per step the
//      codes of the two 128-row groups (two boxes of a tensor map), their scales (the 512-byte atoms of the swizzled
//      layout that hold them) and the B tile (one box per 32 tokens), all issued by one thread, lane 0 of warp
//      step % 16. A stage's full barrier completes when its bytes landed, its empty barrier when every warp is done
//      with it. Measured on an H200 (Nsight Compute and b12x bench, deepseek-v3 T=4096): copies by every thread
//      (cp.async) cost each warp about 110 of its 330 instructions per step; with bulk copies FC1 runs 26 % fewer
//      instructions, and issuing them from one thread in rotation, not always thread 0 (whose warp then paced the
//      CTA), took the call from 11.65 ms (thread 0) and 9.76 ms (cp.async) to 9.04 ms;
//   2. each lane dequantises its rows g, g+8 into 4 A fragments (16 registers): fp16 takes 11 bit operations per 8
//      codes and one conversion instruction per scale where bf16 took 16 and 9 (e2m1_bf16.cuh, e4m3.cuh);
//   3. each warpgroup issues 4 wgmmas (one per k16 slice) as one group. A registers are double buffered: step k + 1's
//      fragments are built while step k's group runs (wgmma_wait<1> frees step k - 1's).
// The epilogue stages every row's sums per token in shared memory (up and gate meet there), then threads take
// (token, 16-feature block) items. N is the tile's token count rounded up to 32, so a small expert's tile skips the
// empty columns' work. Accumulation order per output is the wgmma's own, fixed for a build; a token's bits depend on
// neither the other tokens of its tile nor N (tested: tokens alone and in full tiles agree bit for bit).
// Requirements (uses_wgmma in moe_launcher.cu): H and I multiples of 32 and 16-byte aligned weights and scales, for the
// tensor maps' row pitches and the bulk copies.
#include "moe_gemm_wgmma.cuh"

#include "../common/e2m1_fp16.cuh"
#include "../common/mbarrier.cuh"
#include "../common/tma.cuh"
#include "../common/tile_shapes.h"
#include "../common/wgmma.cuh"
#include "../dispatch/tensor_map.h"
#include "fc_epilogue.cuh"
#include "gemm_grid.cuh"
#include "tile_stage.cuh"
#include "wgmma_operand.cuh"

namespace b12x {
namespace {

constexpr int kWarpgroups = 4;
constexpr int kThreads = 128 * kWarpgroups;
constexpr int kRows = 64 * kWarpgroups;  // weight rows per work item: one wgmma M tile per warpgroup
constexpr int kTokens = kWgmmaTokenTile;
constexpr int kColumnStep = 32;          // N granularity of the wgmma variants

struct WgmmaLayout {
  static constexpr int kGroupRows = 128;                // rows per box of codes: one row tile of the scale swizzle
  static constexpr int kGroups = kRows / kGroupRows;
  static constexpr int kGroupCodeBytes = kGroupRows * kStageCodeBytes;
  static constexpr int kScaleAtomBytes = 512;           // 128 rows x 4 blocks of one row tile (scale_layout.cuh)
  static constexpr int kAtomsPerGroup = 2;              // a group off a 128-row boundary (gate rows) spans two tiles
  static constexpr int kScalesAt = kGroups * kGroupCodeBytes;
  // The B tile after the weights, on a swizzle atom (the 128-byte swizzle of the copies repeats every 1024 bytes).
  static constexpr int kTokensAt = (kScalesAt + kGroups * kAtomsPerGroup * kScaleAtomBytes + kSwizzleAtomBytes - 1) /
                                   kSwizzleAtomBytes * kSwizzleAtomBytes;
  static constexpr int kTokenBoxBytes = kColumnStep * kSwizzleRowBytes;  // one box: 32 tokens x one K step
  static constexpr int kStageBytes = kTokensAt + kTokens * kSwizzleRowBytes;
  // A ring of stages with a full and an empty barrier each, instead of a CTA-wide barrier per step, so that
  // warpgroups drift out of step and one's dequantisation overlaps the others' wgmmas. At step j, one thread copies
  // step j + kLookahead into the stage that step j + kLookahead - kStages used, once every warp has left it. Measured
  // on an H200 with copies by every thread (b12x bench, T = 64 to 16384, every named shape): 8 stages with 4 steps of
  // copies in flight beat 4 stages with 3 on every row (deepseek-v3 T=16384 33.1 against 38.8 ms), and both beat the
  // barrier per step (41.5 ms).
  static constexpr int kStages = 8;
  static constexpr int kLookahead = 4;
  static constexpr int kPipelineBytes = kStages * kStageBytes;
  // Epilogue: fp32 sums [token][staged row]; a pitch of rows + 4 (= 4 mod 32) keeps a warp's stores conflict-free.
  static constexpr int kEpiloguePitch = kRows + 4;
  static constexpr int kEpilogueBytes = kTokens * kEpiloguePitch * 4;
  static constexpr int kBytes = kPipelineBytes > kEpilogueBytes ? kPipelineBytes : kEpilogueBytes;
  static constexpr int kRequest = kBytes + kSwizzleAtomBytes;  // room to align the base to an atom
  static_assert(kWgmmaStepElements * 2 == kSwizzleRowBytes, "a token's K step is one swizzled row");
  static_assert(kRows % kGroupRows == 0 && kGroupRows <= 256, "a group is one box of at most 256 rows");
  static_assert(kStageCodeBytes % 16 == 0, "a box row of codes is a multiple of 16 bytes");
  static_assert(kGroupCodeBytes % 128 == 0 && kScalesAt % 16 == 0, "box destinations 128-byte, bulk ones 16-byte aligned");
  static_assert(kStageBytes % kSwizzleAtomBytes == 0 && kTokenBoxBytes % kSwizzleAtomBytes == 0,
                "B boxes start on swizzle atoms");
  static_assert((kStages & (kStages - 1)) == 0, "stage and phase of a step are its low and next bit");
  static_assert(kLookahead >= 2 && kLookahead < kStages, "copies run ahead of the step in use, into a stage it left");
  static_assert(kRequest + 1024 <= 227 * 1024, "one CTA per SM within the opt-in shared memory of sm_90");
  static_assert(kTokens % kColumnStep == 0 && kTokens <= 256, "wgmma N is a multiple of 8 up to 256");
  static_assert(kEpiloguePitch % 32 == 4, "conflict-free epilogue stores");
};

// The tensor maps of one GEMM (tensor_map.h), kernel parameters: its weight codes as [L x rows, K/2] bytes in boxes
// of one group x one K step, and its token plane (x_hat or a_hat) as [P, wgmma_row_pitch(K)] fp16 in boxes of
// kColumnStep tokens x one K step, 128-byte swizzled.
struct WgmmaMaps {
  CUtensorMap weights;
  CUtensorMap tokens;
};

// What the copying threads need to fill the ring for the current work item (written by thread 0), in shared memory
// rather than in every thread's registers (the kernel runs at its register limit).
struct RingSource {
  const uint8_t* scales[WgmmaLayout::kGroups];  // each group's first scale atom at K step 0
  int32_t code_row[WgmmaLayout::kGroups];       // each group's first row in the weight map
  int32_t atoms[WgmmaLayout::kGroups];          // scale atoms per group: 0 (past the matrix), 1 or 2
  int32_t atom_stride;                          // bytes between the atoms of consecutive row tiles
  int32_t first_slot;
  int32_t token_boxes;
  uint32_t bytes;                               // bytes a step's copies bring
};

// The ring's barriers (mbarrier.cuh) and its position: the ring counts steps across the CTA's work items, step g
// using stage g % kStages in phase g / kStages of its barriers.
template <int kStages>
struct RingBarriers {
  uint64_t full[kStages];   // the step's copies landed (their issuer's arrival and their bytes)
  uint64_t empty[kStages];  // every warp's wgmmas and weight loads of the step are done (kWarps)
  static constexpr uint32_t kWarps = kThreads / 32;

  __device__ __forceinline__ void init() {
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(shared_address(&full[s]), 1);
      mbarrier_init(shared_address(&empty[s]), kWarps);
    }
  }
  __device__ __forceinline__ static uint32_t stage(uint32_t g) { return g % kStages; }
  __device__ __forceinline__ static uint32_t phase(uint32_t g) { return (g / kStages) & 1u; }
  // Shared addresses of step g's barriers, given the ring's own (`at`, taken once per kernel).
  __device__ __forceinline__ static uint32_t full_at(uint32_t at, uint32_t g) {
    return at + static_cast<uint32_t>(offsetof(RingBarriers, full) + sizeof(uint64_t) * stage(g));
  }
  __device__ __forceinline__ static uint32_t empty_at(uint32_t at, uint32_t g) {
    return at + static_cast<uint32_t>(offsetof(RingBarriers, empty) + sizeof(uint64_t) * stage(g));
  }
};
using WgmmaRing = RingBarriers<WgmmaLayout::kStages>;

template <bool kFc1, bool kGated>
using WgmmaStager = TileStager<kTokens, kFc1, kGated, true, kRows, kThreads>;

template <bool kFc1, bool kGated>
struct WgmmaKernel {
  using L = WgmmaLayout;
  using Stager = WgmmaStager<kFc1, kGated>;
  static constexpr int kAcc = kTokens / 2;  // accumulators per thread

  Stager in;
  unsigned char* smem;
  uint32_t ring_at;                 // shared address of the ring's barriers
  const WgmmaMaps* maps;
  RingSource* source;
  uint32_t base;                    // ring step of this work item's K step 0
  int32_t columns;                  // N of this work item's wgmmas: the slots rounded up to kColumnStep
  int32_t scale_at[2];              // stage offsets of this lane's scale bytes for rows g, g + 8

  // Staged row of this lane's A fragment row g (r = 0) or g + 8 (r = 1).
  __device__ __forceinline__ static int staged_row(int r) {
    const int wg = threadIdx.x / 128, warp = (threadIdx.x / 32) % 4, g = (threadIdx.x % 32) / 4;
    constexpr int kFeatures = kRows / 2 / kWarpgroups;  // gated: features per warpgroup
    // Gated: warps 0, 1 hold up rows, warps 2, 3 the gate rows of the same features.
    const int first = (kFc1 && kGated) ? (warp / 2) * (kRows / 2) + kFeatures * wg + 16 * (warp % 2)
                                       : (kRows / kWarpgroups) * wg + 16 * warp;
    return first + g + 8 * r;
  }

  // Row of the expert's matrix (scale tensor numbering) where group h of the work item starts.
  __device__ __forceinline__ int32_t group_row(int h) const {
    if constexpr (kFc1 && kGated) return h == 0 ? in.w.row0 : in.n_rows + in.w.row0;
    return in.w.row0 + h * L::kGroupRows;
  }

  // After in.bind: N of the wgmmas, this lane's scale offsets, and the ring's sources.
  __device__ __forceinline__ void bind_item() {
    columns = (in.w.slots + kColumnStep - 1) / kColumnStep * kColumnStep;
    const int c = threadIdx.x % 4;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int i = staged_row(r), h = i / L::kGroupRows;
      const int32_t first = group_row(h), row = first + i % L::kGroupRows;
      const int atom = row / 128 - first / 128;
      scale_at[r] = L::kScalesAt + (h * L::kAtomsPerGroup + atom) * L::kScaleAtomBytes + (row % 32) * 16 +
                    ((row % 128) / 32) * 4 + c;
    }
    if (threadIdx.x == 0) bind_source();
    __syncthreads();  // every warp issues copies from the source
  }

  // Thread 0: the copies' sources for the current work item (RingSource), and the bytes a step brings.
  __device__ __forceinline__ void bind_source() const {
    const int32_t rows = kFc1 ? in.p.w1_rows : in.p.hidden;  // rows of one expert's matrix
    const int32_t tiles = (rows + 127) / 128;                // row tiles of its scales
    uint32_t bytes = L::kGroups * L::kGroupCodeBytes;
#pragma unroll
    for (int h = 0; h < L::kGroups; ++h) {
      const int32_t first = group_row(h), tile = first / 128;
      source->code_row[h] = in.w.expert * rows + first;
      source->atoms[h] = tile >= tiles ? 0 : (first % 128 == 0 || tile + 1 >= tiles) ? 1 : 2;
      source->scales[h] = in.scales + in.sa.offset(in.w.expert, tile < tiles ? tile * 128 : 0, 0);
      bytes += source->atoms[h] * L::kScaleAtomBytes;
    }
    source->atom_stride = in.sa.padded_blocks * 128;
    source->first_slot = in.w.first_slot;
    source->token_boxes = columns / kColumnStep;
    source->bytes = bytes + columns * kSwizzleRowBytes;
  }

  __device__ __forceinline__ unsigned char* stage(int32_t step) const {
    return smem + WgmmaRing::stage(base + step) * L::kStageBytes;
  }

  // Lane 0 of warp g % 16 (g: the step's ring position): K step `step` into its stage once every warp has left the
  // stage's previous step. Tokens past the tile's slots are copied too (the next expert's, or zeros past the plane):
  // their columns are never stored.
  __device__ __forceinline__ void issue(int32_t step) const {
    const uint32_t g = base + step;
    if (threadIdx.x != 32 * (g % WgmmaRing::kWarps)) return;
    if (g >= L::kStages) mbarrier_wait(WgmmaRing::empty_at(ring_at, g), WgmmaRing::phase(g - L::kStages));
    const RingSource& s = *source;
    unsigned char* st = stage(step);
    const uint32_t full = WgmmaRing::full_at(ring_at, g);
    mbarrier_arrive_expect_tx(full, s.bytes);
#pragma unroll
    for (int h = 0; h < L::kGroups; ++h) {
      tma_load_2d(st + h * L::kGroupCodeBytes, &maps->weights, step * kStageCodeBytes, s.code_row[h], full);
      for (int a = 0; a < s.atoms[h]; ++a) {
        bulk_load(st + L::kScalesAt + (h * L::kAtomsPerGroup + a) * L::kScaleAtomBytes,
                  s.scales[h] + a * s.atom_stride + step * L::kScaleAtomBytes, L::kScaleAtomBytes, full);
      }
    }
    for (int j = 0; j < s.token_boxes; ++j) {
      tma_load_2d(st + L::kTokensAt + j * L::kTokenBoxBytes, &maps->tokens, step * kWgmmaStepElements,
                  s.first_slot + j * kColumnStep, full);
    }
  }

  // Waits for step `step`'s stage to land (the bulk copies' writes are then visible to this thread and to wgmma).
  __device__ __forceinline__ void acquire(int32_t step) const {
    const uint32_t g = base + step;
    mbarrier_wait(WgmmaRing::full_at(ring_at, g), WgmmaRing::phase(g));
  }

  // This warp is done with step `step`'s stage: its wgmma group has completed and its weight loads were consumed.
  __device__ __forceinline__ void release(int32_t step) const {
    __syncwarp();
    if (threadIdx.x % 32 == 0) mbarrier_arrive(WgmmaRing::empty_at(ring_at, base + step));
  }

  // The A fragments of step `step` for this lane's rows (staged rows `rows`): a[s] = rows g, g+8 x elements (s, s+4)
  // and (8+s, 12+s) of the lane's block, m16n8k16 order. A block past K gets a zero scale: the scale tensor's padding
  // bytes are never trusted.
  __device__ __forceinline__ void prepare(int32_t step, const int (&rows)[2], uint32_t (&a)[4][4]) const {
    const unsigned char* st = stage(step);
    const int c = threadIdx.x % 4;
    const bool k_valid = step * kStageBlocks + c < in.k_blocks;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const uint2 codes = *reinterpret_cast<const uint2*>(st + rows[r] * kStageCodeBytes + c * 8);
      const uint32_t scale = e4m3_to_fp16x2_broadcast(st[scale_at[r]]);
      uint32_t pairs[8];
      dequantize_block_fp16<false>(codes, k_valid ? scale : 0u, pairs);
#pragma unroll
      for (int s = 0; s < 4; ++s) {
        a[s][r] = pairs[2 * s];
        a[s][2 + r] = pairs[2 * s + 1];
      }
    }
  }

  // The step's 4 wgmmas (one per k16 slice) of N token columns.
  template <int N>
  __device__ __forceinline__ void issue_wgmmas(const uint32_t (&a)[4][4], const unsigned char* st,
                                               float (&acc)[kAcc]) const {
    const uint32_t tokens = shared_address(st + L::kTokensAt);
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      wgmma_f16_rs<N>(*reinterpret_cast<float(*)[N / 2]>(acc), a[s], wgmma_descriptor_sw128(tokens, s));
    }
  }

  // Step `step` with A registers a[P]; then, while its group runs, the copies of step + kLookahead and a[1 - P].
  template <int N, int P>
  __device__ __forceinline__ void step_body(int32_t step, int32_t steps, const int (&rows)[2], uint32_t (&a)[2][4][4],
                                            float (&acc)[kAcc]) const {
    wgmma_fence();
    issue_wgmmas<N>(a[P], stage(step), acc);
    wgmma_commit();
    wgmma_wait<1>();  // step - 1's group is done: a[1 - P] is free, and this warp leaves step - 1's stage
    if (step > 0) release(step - 1);
    if (step + L::kLookahead < steps) issue(step + L::kLookahead);
    if (step + 1 < steps) {
      acquire(step + 1);
      prepare(step + 1, rows, a[1 - P]);
    }
  }

  // The work item's K loop over N = `columns` token columns. The ring's position moves on by its steps; the CTA
  // barrier at the end hands the pipeline's shared memory to the epilogue once every warpgroup's last group has
  // completed. N is a template argument, one loop per N, rather than a switch in every step: the switch cost each
  // warp about 10 instructions per step (tests and branches, a second wgmma fence, and an empty wgmma that carried the
  // group's commit, since the compiler could not attach it to the last wgmma of every case). With the descriptors and
  // barrier addresses below it, FC1 at deepseek-v3 T=4096 ran 13 % fewer instructions (1.89 against 2.16 billion) in
  // the same time (H200): the loop is bound by each warp's chain of waits, not by instruction issue (benchmarks.md).
  template <int N>
  __device__ void mainloop_n(float (&acc)[kAcc]) {
    const int32_t steps = in.steps();
    const int rows[2] = {staged_row(0), staged_row(1)};
    for (int32_t s = 0; s < L::kLookahead && s < steps; ++s) issue(s);
    acquire(0);
    uint32_t a[2][4][4];
    prepare(0, rows, a[0]);
    for (int32_t step = 0; step < steps; step += 2) {
      step_body<N, 0>(step, steps, rows, a, acc);
      if (step + 1 < steps) step_body<N, 1>(step + 1, steps, rows, a, acc);
    }
    wgmma_wait<0>();
    wgmma_pin(acc);
    release(steps - 1);
    base += steps;
    __syncthreads();
  }

  __device__ void mainloop(float (&acc)[kAcc]) {
    static_assert(kTokens / kColumnStep == 4, "one case per N");
    switch (columns / kColumnStep) {  // 1..4: a tile holds 1..kTokens slots
      case 1: mainloop_n<32>(acc); break;
      case 2: mainloop_n<64>(acc); break;
      case 3: mainloop_n<96>(acc); break;
      default: mainloop_n<128>(acc); break;
    }
  }

  // Sums -> [token][staged row] in shared memory; then per (token, 16-feature block): activation (FC1) and stores.
  __device__ void epilogue(const float (&acc)[kAcc]) const {
    const int c = threadIdx.x % 4;
    float* sums = reinterpret_cast<float*>(smem);
    const int rows[2] = {staged_row(0), staged_row(1)};
#pragma unroll
    for (int j = 0; j < kTokens / 8; ++j) {
      if (j * 8 >= columns) break;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int token = j * 8 + 2 * c + (i & 1);
        sums[token * L::kEpiloguePitch + rows[i / 2]] = acc[4 * j + i] * kBlockSumFix;
      }
    }
    __syncthreads();
    constexpr int kBlocks = (kFc1 && kGated) ? kRows / 32 : kRows / 16;  // 16-feature blocks per token
    const float alpha = kFc1 ? in.p.alpha1(in.w.expert) : 1.0f;
    for (int item = threadIdx.x; item < in.w.slots * kBlocks; item += kThreads) {
      const int token = item / kBlocks, b = item % kBlocks;
      const float* v = sums + token * L::kEpiloguePitch + 16 * b;
      float block[16];
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        if constexpr (kFc1 && kGated) {
          block[i] = fc1_activation<true>(alpha, v[i], v[kRows / 2 + i]);
        } else {
          block[i] = kFc1 ? fc1_activation<false>(alpha, v[i], v[i]) : v[i];
        }
      }
      in.store_token(token, block, {in.w.row0 + 16 * b});
    }
    // The staging area is the next work item's pipeline: these generic-proxy accesses come before its copies
    // (async proxy) through this fence and the barrier.
    fence_proxy_async_shared();
    __syncthreads();
  }
};

template <bool kFc1, bool kGated>
__global__ void __launch_bounds__(kThreads, 1)
    moe_wgmma_kernel(MoeParams p, int32_t persistent, const __grid_constant__ WgmmaMaps maps) {
#if B12X_HAS_WGMMA
  using K = WgmmaKernel<kFc1, kGated>;
  extern __shared__ __align__(128) unsigned char dynamic_smem[];
  unsigned char* smem = dynamic_smem + (-static_cast<int>(shared_address(dynamic_smem)) & (kSwizzleAtomBytes - 1));
  __shared__ int32_t claimed;  // also marks an image with the wgmma body (loaded_image.cu)
  __shared__ WgmmaRing ring;
  __shared__ RingSource source;
  if (threadIdx.x == 0) ring.init();
  __syncthreads();  // the barriers are initialised before any thread arrives on them (one CTA per item has no claim)
  uint32_t base = 0;
  for (int32_t round = 0;; ++round) {
    const int32_t item = gemm_work_item(p, persistent != 0, kFc1 ? 0 : 1, round, claimed);
    K kernel{{p}, smem, shared_address(&ring), &maps, &source, base, 0, {0, 0}};
    if (item < 0 || !kernel.in.bind(item)) break;
    kernel.bind_item();
    float acc[K::kAcc];
#pragma unroll
    for (int i = 0; i < K::kAcc; ++i) acc[i] = 0.0f;
    kernel.mainloop(acc);
    base = kernel.base;
    kernel.epilogue(acc);
  }
#else
  (void)p;  // images for other architectures hold an empty kernel without shared memory
  (void)persistent;
  (void)maps;
#endif
}

// The tensor maps of FC1 (fc1) or FC2 of the call.
cudaError_t encode_maps(const MoeParams& p, bool fc1, WgmmaMaps* maps) {
  const int32_t k = fc1 ? p.hidden : p.intermediate;
  const int64_t rows = static_cast<int64_t>(p.local_experts) * (fc1 ? p.w1_rows : p.hidden);
  cudaError_t e = encode_tensor_map_2d(&maps->weights, CU_TENSOR_MAP_DATA_TYPE_UINT8, fc1 ? p.w1 : p.w2, k / 2, rows,
                                       k / 2, kStageCodeBytes, WgmmaLayout::kGroupRows, CU_TENSOR_MAP_SWIZZLE_NONE);
  if (e != cudaSuccess) return e;
  const int64_t pitch = wgmma_row_pitch(k);
  return encode_tensor_map_2d(&maps->tokens, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, fc1 ? p.x_hat : p.a_hat, pitch,
                              static_cast<int64_t>(p.tokens) * p.top_k, pitch * 2, kWgmmaStepElements, kColumnStep,
                              CU_TENSOR_MAP_SWIZZLE_128B);
}

}  // namespace

cudaError_t wgmma_kernel_attributes(cudaFuncAttributes* attributes) {
  return cudaFuncGetAttributes(attributes, moe_wgmma_kernel<false, false>);
}

cudaError_t launch_moe_gemms_wgmma(const MoeParams& p, bool persistent, int32_t sms, cudaStream_t stream,
                                   const char** step) {
  const size_t shared = WgmmaLayout::kRequest;
  using Kernel = void (*)(MoeParams, int32_t, WgmmaMaps);
  Kernel fc1 = p.gated ? moe_wgmma_kernel<true, true> : moe_wgmma_kernel<true, false>;
  Kernel fc2 = moe_wgmma_kernel<false, false>;
  cudaError_t e;
  *step = "wgmma shared-memory opt-in";
  if ((e = allow_dynamic_shared(reinterpret_cast<const void*>(fc1), shared)) != cudaSuccess) return e;
  if ((e = allow_dynamic_shared(reinterpret_cast<const void*>(fc2), shared)) != cudaSuccess) return e;
  WgmmaMaps fc1_maps{}, fc2_maps{};
  *step = "wgmma tensor maps";
  if ((e = encode_maps(p, true, &fc1_maps)) != cudaSuccess) return e;
  if ((e = encode_maps(p, false, &fc2_maps)) != cudaSuccess) return e;
  // Output rows per work item, as the kernels' stagers number them.
  const int32_t fc1_rows = p.gated ? WgmmaStager<true, true>::kFeatures : WgmmaStager<true, false>::kFeatures;
  int64_t fc1_grid = gemm_work_items(p, kTokens, fc1_rows, p.intermediate);
  int64_t fc2_grid = gemm_work_items(p, kTokens, WgmmaStager<false, false>::kFeatures, p.hidden);
  if (persistent) {
    *step = "occupancy query";
    if ((e = persistent_grid(fc1, kThreads, shared, sms, fc1_grid, &fc1_grid)) != cudaSuccess) return e;
    if ((e = persistent_grid(fc2, kThreads, shared, sms, fc2_grid, &fc2_grid)) != cudaSuccess) return e;
  }
  *step = "wgmma FC1 launch";
  fc1<<<static_cast<unsigned>(fc1_grid), kThreads, shared, stream>>>(p, persistent ? 1 : 0, fc1_maps);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  *step = "wgmma FC2 launch";
  fc2<<<static_cast<unsigned>(fc2_grid), kThreads, shared, stream>>>(p, persistent ? 1 : 0, fc2_maps);
  return cudaGetLastError();
}

}  // namespace b12x
