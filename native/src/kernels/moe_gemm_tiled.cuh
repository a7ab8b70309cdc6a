// Tiled FC1/FC2 for the static and dynamic strategies (many tokens per expert), sm_80 mma.sync with a cp.async
// pipeline. Requires swizzled weight scales (4 block scales of a row are one aligned word); the launcher sends
// linear-layout problems to the register-streaming kernels of moe_gemm_kernels.cu, and the dynamic strategy's NVFP4
// problems on sm_90a images to moe_gemm_wgmma.cu. The weight stage is tile_stage.cuh's.
#pragma once
#include <cuda_runtime.h>
#include "../dispatch/moe_params.h"

namespace b12x {

// Queues FC1 then FC2 with the tiled kernels for a token tile of tn (kStaticTokenTile or kDynamicTokenTile).
cudaError_t launch_moe_gemms_tiled(const MoeParams& p, int32_t tn, bool persistent, int32_t sms, cudaStream_t stream,
                                   const char** step);

}  // namespace b12x
