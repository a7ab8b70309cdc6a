// NVFP4 quantisation of bf16 rows, one thread per 16-element block (step 1 of the contract).
#pragma once
#include <cuda_bf16.h>
#include "../dispatch/moe_params.h"

namespace b12x {

constexpr int kQuantizeThreads = 256;

// FC1 input of every slot: slot s quantises x[slot_pair[s] / K] with gs1 of its expert into xq.
__global__ void moe_quantize_fc1_input(MoeParams p);

// Plain rows: x [rows, cols] with one device-resident global scale into codes [rows, cols/2], scales [rows, cols/16].
__global__ void nvfp4_quantize_rows(const __nv_bfloat16* x, int32_t rows, int32_t cols, const float* global_scale,
                                    uint8_t* codes, uint8_t* scales);

}  // namespace b12x
