// Thread-block and tile constants shared by the launcher and the kernels, each with its reason.
#pragma once

namespace b12x {

// GEMM CTAs: 4 warps; each warp computes one m16 MMA tile of weight rows for the tile's tokens.
constexpr int kGemmThreads = 128;

// Token tiles (the MMA's N side, multiples of 8) of the three strategies. Micro computes one routed pair per CTA
// (one n8 MMA tile with a single token: decode rows rarely share an expert); static and dynamic group an expert's
// tokens so each dequantised weight fragment feeds up to 32 or 64 of them.
constexpr int kMicroTokenTile = 8;
constexpr int kStaticTokenTile = 32;
constexpr int kDynamicTokenTile = 64;
// Dynamic strategy on sm_90a (moe_gemm_wgmma.cu): 128 tokens = N of the widest wgmma a 64-row M tile can hold in 64
// accumulator registers per thread, which leaves room for four warpgroups per SM (127 registers each).
constexpr int kWgmmaTokenTile = 128;

// Warps sharing one 16-row group along K. A decode tile holds one token, so a 16-row group is memory work only:
// 4 warps on it give 4x the loads in flight (qwen3-30b at T=1: 8 pairs x 48 row groups = 384 CTAs, about 3 per SM
// of an H100). Larger tiles have enough MMA work per load to keep fewer warps per row group.
constexpr int kMicroKSplit = 4;
constexpr int kStaticKSplit = 2;
constexpr int kDynamicKSplit = 1;

// Decode: K steps whose weight loads a warp issues before their MMAs. Fewer registers beat deeper batches here: on an
// H200, 4 steps (108 registers, 4 CTAs per SM) took qwen3-30b at T=1 from 35.4 to 33.4 us and deepseek-v3 from 155
// to 136 us against 8 steps (160 registers, 3 CTAs per SM); 2 and 3 steps were within noise of 4.
constexpr int kMicroStepsInFlight = 4;

// The NVFP4 mma.sync kernels for few tokens (moe_micro_nvfp4.cu, moe_narrow_nvfp4.cu) walk K in slabs of 8 16-blocks:
// one block per column of the micro kernels' n8 MMA tile, the same weight stream per slab in the narrow ones.
constexpr int kSlabBlocks = 8;
__host__ __device__ constexpr int slabs_of(int k) { return (k + kSlabBlocks * 16 - 1) / (kSlabBlocks * 16); }

// NVFP4 decode (moe_micro_nvfp4.cu): 128-element slabs a warp keeps in flight through cp.async. Measured on an H200
// (b12x bench, T = 1 and 8): 2 slabs beat 3 (mixtral-8x7b T=8 583 against 688 us, the others equal or up to 1 us
// faster) and 4 (smaller rings fit more CTAs per SM, and the in-flight bytes of 2 slabs already cover the latency).
// Measured again with 16-byte weight copies (kernel timelines, H200): 3 and 4 slabs were no faster anywhere, e.g.
// qwen3-30b T=1 25.6 and 27.3 us against 22.5, deepseek-v3 T=8 482 and 497 us against 477.
constexpr int kMicroSlabsInFlight = 2;
// NVFP4 decode: warps per CTA, each taking every kMicroNvfp4Warps-th slab of K. 8 warps (twice the ring per CTA)
// measured slower on an H200: qwen3-30b T=1 36.6 against 29.3 us, deepseek-v3 131.6 against 110.6 us; measured again
// with the current kernels (b12x bench, native us): qwen3-30b-a3b T=1 28.3 against 22.5, deepseek-v3 91.6 against
// 83.2, mixtral-8x7b T=8 539 against 454, and 8 warps with 1 slab each in flight slower still (28.5, 101, 620).
constexpr int kMicroNvfp4Warps = 4;

// Static NVFP4 GEMMs for narrow token tiles (moe_narrow_nvfp4.cu): warps per CTA, each taking every kNarrowWarps-th
// slab of K, and the slabs each warp keeps in flight. Taken from the micro kernels (kMicroNvfp4Warps,
// kMicroSlabsInFlight), whose weight stream per slab is the same. 3 and 4 slabs measured within +-6 % of 2 on an H200
// (kernel timelines at T = 8 and 64: qwen3-30b-a3b T=8 143 / 151 / 146 us, deepseek-v3 T=64 2476 / 2388 / 2378 us),
// with no row clearly better; the kernels are bound by instruction issue, not by loads in flight.
constexpr int kNarrowWarps = 4;
constexpr int kNarrowSlabsInFlight = 2;
// The narrow kernels take a static call when its mean routed pairs per local expert (P / L) is at most this: tiles of
// up to two 8-token MMA tiles (16 tokens); beyond, each weight slab feeds enough tokens for the 128-row tiles.
constexpr int kNarrowMaxTokensPerExpert = 16;

// Reference kernels: one CTA per slot, threads over output features.
constexpr int kReferenceThreads = 256;

}  // namespace b12x
