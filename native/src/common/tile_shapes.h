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

// NVFP4 decode (moe_micro_nvfp4.cu): 128-element slabs a warp keeps in flight through cp.async. Little's law at
// 4.8 TB/s and about 1 us of loaded DRAM latency asks for about 36 KB in flight per SM (132 SMs); 3 slabs of the
// gated FC1 are 7.5 KB per warp, 30 KB per CTA, of which two thirds are in flight while one slab is multiplied.
constexpr int kMicroSlabsInFlight = 3;
// NVFP4 decode: warps per CTA, each taking every kMicroNvfp4Warps-th slab of K.
constexpr int kMicroNvfp4Warps = 4;

// Reference kernels: one CTA per slot, threads over output features.
constexpr int kReferenceThreads = 256;

}  // namespace b12x
