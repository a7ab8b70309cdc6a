// FC1 (gate/up GEMM + activation + bf16 rounding + FC2-input quantisation) and FC2 (down GEMM + routing-weight
// scaling) over the expert-major slots, streaming weights through registers (sm_80 mma.sync). The static and
// dynamic strategies use these when the weight scales are linear (the tiled kernels need swizzled ones).
// Template parameters:
//   TN     tokens per work item (32 static, 64 dynamic)
//   kGated silu (W1 = [up; gate], 2I rows) or relu2 (I rows)
//   kFp4B  NVFP4 activations (quantised rows) or W4A16 (bf16 rows)
// Non-persistent: one CTA per work item (grid = an upper bound; CTAs past the end return). Persistent: a grid
// sized to the device pulls work items from queue_heads[0] (FC1) / [1] (FC2).
#pragma once
#include <cuda_runtime.h>
#include "../common/tile_shapes.h"
#include "../dispatch/moe_params.h"

namespace b12x {

// Queues FC1 then FC2 for a token tile of tn (kStaticTokenTile or kDynamicTokenTile).
// Returns the first CUDA error and names the failing step in *step.
cudaError_t launch_moe_gemms(const MoeParams& p, int32_t tn, bool persistent, int32_t sms, cudaStream_t stream,
                             const char** step);

}  // namespace b12x
