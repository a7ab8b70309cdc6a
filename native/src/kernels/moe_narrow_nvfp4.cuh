// The static strategy's NVFP4 GEMMs for narrow token tiles: decode-sized batches whose experts get a few tokens each
// (qwen3-30b-a3b at T = 8: 64 pairs over 128 experts). Each work item (a token tile of 8 or 16 slots of one expert
// against 16 features of FC1 or 32 rows of FC2) streams its weight rows once for the tile, where the 128-row tiles
// of moe_gemm_tiled.cu are sized for 32 tokens and leave most of their pipeline idle.
//   moe_narrow_nvfp4<FC1>  w1 rows against the tile's xq rows, then activation, bf16 and the FC2-input block (step 4)
//                          into each slot's aq row.
//   moe_narrow_nvfp4<FC2>  w2 rows against the tile's aq rows, scaled by fp32(w * alpha2) into each pair's y row.
#pragma once
#include <cuda_runtime.h>
#include "../dispatch/moe_params.h"

namespace b12x {

// The token tile whose kernels read the tokens as exact fp16 planes (narrow_operand.cuh): with 8 tokens a slab's
// token operand converted in the loop took a fifth of its ALU instructions; the 16-token kernels keep NVFP4 codes,
// as fp16 tokens do not fit their ring in 48 KB of static shared memory. Measured (H200, static rows at T = 64 and
// 256): every narrow kernel on fp16 tokens, its ring in 50 KB of dynamic shared memory with the warps' partial sums
// kept in their own weight rings, was slower on every row, the 8-token ones included (mixtral-8x7b T=64 551 to 686
// us, qwen3-30b-a3b T=64 168 to 189), so the dynamic-memory ring itself costs more than the conversion it saves.
constexpr int32_t kNarrowFp16TokenTile = 8;

// Token tile (8 or 16 slots) of the narrow kernels for a static call of `pairs` routed pairs over `local_experts`
// experts, or 0 where they do not apply: W4A16, H or I not a multiple of 64 (one scale word per 4 blocks), or more
// than kNarrowMaxTokensPerExpert pairs per local expert on average.
int32_t narrow_token_tile(bool nvfp4, int32_t hidden, int32_t intermediate, int64_t pairs, int32_t local_experts);

// Queues FC1 then FC2 as persistent grids for `sms` multiprocessors; p.token_tile must be narrow_token_tile's (the
// routing's tiles). With pdl (sm_90 and later) both launch with programmatic stream serialization: the kernel before
// FC1 must be one that calls pdl_launch_dependents only after its own pdl_wait (step 1's quantiser), so that the
// routing is complete when FC1 starts. Returns the first CUDA error and names the failing step in *step.
cudaError_t launch_moe_narrow_nvfp4(const MoeParams& p, bool pdl, int32_t sms, cudaStream_t stream, const char** step);

}  // namespace b12x
