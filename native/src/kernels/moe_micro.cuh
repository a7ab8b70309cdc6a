// The micro (decode) strategy in two launches and no routing pass:
//   moe_micro_fc1            one CTA per (routed pair, 16 intermediate features): the pair's x row is quantised on
//                            the fly (each lane owns whole 16-element blocks, so step 1 runs lane-locally), FC1 up
//                            and gate, activation, bf16, FC2-input quantisation into the pair's row of the aq plane.
//   moe_micro_fc2_combine    one CTA per (token, 16 hidden rows): FC2 of each of the token's valid pairs in
//                            ascending k, each scaled by fp32(w * alpha2) and added in fp32 from +0, one bf16
//                            rounding; the combine needs no y plane.
// The 4 warps of a CTA split K (kMicroKSplit) so a one-token tile keeps enough weight loads in flight. A pair's
// weights are read once per pair: decode batches rarely route two tokens to one expert.
#pragma once
#include <cuda_runtime.h>
#include "../dispatch/moe_params.h"

namespace b12x {

cudaError_t launch_moe_micro(const MoeParams& p, cudaStream_t stream, const char** step);

}  // namespace b12x
