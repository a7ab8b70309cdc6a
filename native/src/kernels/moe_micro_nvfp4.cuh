// The micro (decode) strategy's NVFP4 kernels, used when H and I are multiples of 64 (one scale word per 4 blocks);
// moe_micro.cu launches them and keeps the bf16 kernels for W4A16 and the other shapes.
//   moe_micro_nvfp4_quantize  step 1 for every routed pair: its x row as exact fp16 values in its x_fp16 row.
//   moe_micro_nvfp4_fc1   one CTA per (routed pair, 16 intermediate features): up and gate rows of w1 against the
//                         pair's x_fp16 row, then activation, bf16, and the FC2-input block (step 4) in the pair's aq
//                         row and, as exact fp16 values, its a_fp16 row.
//   moe_micro_nvfp4_fc2   one CTA per (routed pair, 32 hidden rows): w2 against the pair's a_fp16 row, scaled by
//                         fp32(w * alpha2) into the pair's y row.
// K is walked in slabs of 128 (8 blocks); the 4 warps of a CTA take every 4th slab and stream their weights with
// cp.async, kMicroSlabsInFlight slabs ahead, the first ones before the staged token row is read. fp16 MMAs form each
// block's exact sum from the raw codes (e2m1_fp16.cuh); the block scales are applied after the MMA, one fused
// multiply-add per block and row, so dequantisation costs 1.5 instructions per weight and no scale multiply.
#pragma once
#include <cuda_runtime.h>
#include "../dispatch/moe_params.h"

namespace b12x {

// Whether the NVFP4 micro kernels serve these sizes (else moe_micro.cu's bf16 kernels do).
bool micro_block_sums_apply(bool nvfp4, int32_t hidden, int32_t intermediate);

// pdl: launch FC1 and FC2 with programmatic stream serialization (sm_90 and later, pdl.cuh); sms: the device's SMs.
cudaError_t launch_moe_micro_nvfp4(const MoeParams& p, bool pdl, int32_t sms, cudaStream_t stream, const char** step);

// Shared memory one CTA needs for these sizes (static plus the staged token row; the larger of FC1 and FC2).
cudaError_t micro_nvfp4_shared_bytes(int32_t hidden, int32_t intermediate, bool gated, size_t* bytes);

}  // namespace b12x
