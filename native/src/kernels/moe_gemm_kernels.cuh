// FC1 (gate/up GEMM + activation + bf16 rounding + FC2-input quantisation) and FC2 (down GEMM + routing-weight
// scaling) over the expert-major slots, on the sm_80 mma.sync path. Template parameters:
//   TN     tokens per work item (8 micro, 32 static, 64 dynamic)
//   kGated silu (W1 = [up; gate], 2I rows) or relu2 (I rows)
//   kFp4B  NVFP4 activations (quantised rows) or W4A16 (bf16 rows)
// persistent = 0: one CTA per work item (grid = an upper bound; CTAs past the end return);
// persistent = 1: a grid sized to the device pulls work items from queue_heads[0] (FC1) / [1] (FC2).
#pragma once
#include "../common/tile_shapes.h"
#include "../dispatch/moe_params.h"

namespace b12x {

template <int TN, bool kGated, bool kFp4B>
__global__ void __launch_bounds__(kGemmThreads) moe_fc1_kernel(MoeParams p, int32_t persistent);

template <int TN, bool kFp4B>
__global__ void __launch_bounds__(kGemmThreads) moe_fc2_kernel(MoeParams p, int32_t persistent);

}  // namespace b12x
