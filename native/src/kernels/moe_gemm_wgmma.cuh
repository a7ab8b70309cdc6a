// Tiled FC1/FC2 on warpgroup MMA (sm_90a) for the dynamic strategy and for the static calls the narrow kernels do not
// take. Requires NVFP4 activations and swizzled weight scales, like the tiled kernels it replaces there; the routing
// must have used kWgmmaTokenTile as its token tile.
#pragma once
#include <cuda_runtime.h>
#include "../dispatch/moe_params.h"

namespace b12x {

// Attributes of the loaded image's FC2 kernel on the current device: only sm_90a images hold the wgmma body (and
// its shared memory); the others hold empty kernels.
cudaError_t wgmma_kernel_attributes(cudaFuncAttributes* attributes);

// Queues FC1 then FC2: on a persistent grid (work queue heads of the routing plan) or with one CTA per work item.
cudaError_t launch_moe_gemms_wgmma(const MoeParams& p, bool persistent, int32_t sms, cudaStream_t stream,
                                   const char** step);

}  // namespace b12x
