// Reference kernels: FC1 and FC2 on CUDA cores in the CPU backend's canonical order (NVFP4: exact 16-block partial
// sums added in ascending block order; W4A16: one fp32 add per element in ascending order). They share the routing,
// quantisation and combine kernels with the fast path and exist so tests can check the fast strategies on shapes
// too large for the CPU backend. One CTA per slot; dynamic shared memory holds the slot's input row and its
// intermediate row as fp32 ((H + I) * 4 bytes).
#pragma once
#include "../common/tile_shapes.h"
#include "../dispatch/moe_params.h"

namespace b12x {

__global__ void __launch_bounds__(kReferenceThreads) moe_reference_fc1(MoeParams p);
__global__ void __launch_bounds__(kReferenceThreads) moe_reference_fc2(MoeParams p);

}  // namespace b12x
