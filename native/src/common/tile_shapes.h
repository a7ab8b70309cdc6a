// Thread-block and tile constants shared by the launcher and the kernels, each with its reason.
#pragma once

namespace b12x {

// GEMM CTAs: 4 warps of one m16 MMA tile each = 64 weight rows per CTA. 64 rows keep the decode grids of the
// benchmark shapes at 1-4 CTAs per SM (e.g. qwen3-30b at T=1: 8 experts x 12 row tiles of 1536/128 gate+up rows).
constexpr int kGemmThreads = 128;
constexpr int kGemmRowsPerCta = 64;

// Token tiles (the MMA's N side, multiples of 8) of the three strategies: decode rows rarely share an expert, so
// micro uses one n8 tile; static and dynamic grow the tile to reuse each dequantised weight fragment for more tokens.
constexpr int kMicroTokenTile = 8;
constexpr int kStaticTokenTile = 32;
constexpr int kDynamicTokenTile = 64;

// Reference kernels: one CTA per slot, threads over output features.
constexpr int kReferenceThreads = 256;

}  // namespace b12x
