// Step 6 and 7 of the contract: out[t, h] = bf16(sum over valid k, ascending, from +0, of y[t*K + k, h]), one
// rounding; a token whose x row holds NaN or +-Inf and that has a valid pair gets a NaN row.
#pragma once
#include <cuda_runtime.h>
#include "../dispatch/moe_params.h"

namespace b12x {

constexpr int kCombineThreads = 256;
constexpr int kCombineColumnsPerThread = 4;  // one float4 of y per thread and pair
constexpr int kCombineRoutesInFlight = 8;    // top_k of most MoE models: one batch of loads per token

// grid: (T, ceil(H / (kCombineThreads * 4)))
__global__ void __launch_bounds__(kCombineThreads) moe_combine(MoeParams p);

// The combine of a call whose GEMMs wrote y; pdl: it may start early and wait for them in pdl_wait (pdl.cuh).
cudaError_t launch_moe_combine(const MoeParams& p, bool pdl, cudaStream_t stream);

}  // namespace b12x
