// The micro (decode) strategy: no routing pass, three launches. NVFP4 layers whose H and I are multiples of 64 run
// the block-sum kernels of moe_micro_nvfp4.cuh; the kernels below serve W4A16 and the other NVFP4 shapes.
//   moe_micro_fc1   one CTA per (routed pair, 16 intermediate features): the pair's x row is quantised once into
//                   shared memory (step 1, one 16-block per thread), then FC1 up and gate, activation, bf16,
//                   FC2-input quantisation into the pair's row of the aq plane (rows indexed by pair).
//   moe_micro_fc2   one CTA per (routed pair, 16 hidden rows): the pair's intermediate row dequantised once into
//                   shared memory, FC2, scaled by fp32(w * alpha2) into the pair's y row.
//   moe_combine     shared with the other strategies (ascending k, one bf16 rounding).
// The 4 warps of a CTA split K (kMicroKSplit), and each warp issues the weight loads of kMicroStepsInFlight K steps
// before their MMAs, so a one-token tile still keeps the weight stream's loads in flight. A pair's weights are read
// once per pair: decode batches rarely route two tokens to one expert.
#pragma once
#include <cuda_runtime.h>
#include "../dispatch/moe_params.h"

namespace b12x {

// pdl: the NVFP4 kernels may use programmatic dependent launch (pdl.cuh); the bf16 kernels launch plainly.
cudaError_t launch_moe_micro(const MoeParams& p, bool pdl, int32_t sms, cudaStream_t stream, const char** step);

// Shared memory one micro CTA needs for these sizes (static plus the staged operand row; the larger of FC1 and FC2).
cudaError_t micro_shared_bytes(int32_t hidden, int32_t intermediate, bool gated, bool nvfp4, size_t* bytes);

}  // namespace b12x
