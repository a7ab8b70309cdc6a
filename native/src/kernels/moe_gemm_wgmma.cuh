// Tiled FC1/FC2 of the dynamic strategy on warpgroup MMA (sm_90a). Requires NVFP4 activations and swizzled weight
// scales, like the tiled kernels it replaces there; the routing must have used kWgmmaTokenTile as its token tile.
#pragma once
#include <cuda_runtime.h>
#include "../dispatch/moe_params.h"

namespace b12x {

// True when `device` runs an image of these kernels with the wgmma body (sm_90a); other images hold empty kernels.
// False for a device that cannot be queried. Cached per device.
bool wgmma_gemms_available(int device);

// Queues FC1 then FC2 on a persistent grid (work queue heads of the routing plan).
cudaError_t launch_moe_gemms_wgmma(const MoeParams& p, int32_t sms, cudaStream_t stream, const char** step);

}  // namespace b12x
