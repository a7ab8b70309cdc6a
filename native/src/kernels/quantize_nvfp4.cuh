// NVFP4 quantisation of bf16 rows, one thread per 16-element block (step 1 of the contract).
#pragma once
#include <cuda_bf16.h>
#include "../dispatch/moe_params.h"

namespace b12x {

constexpr int kQuantizeThreads = 256;

// FC1 input of every slot for the wgmma kernels: slot s quantises x[slot_pair[s] / K] with gs1 of its expert into
// its x_hat row. When may_quantize_per_token and the call has fewer tokens than slots, each token's row is quantised
// once and stored into the x_hat rows of its K slots instead. Grid: any size (grid-stride over at most K·T items).
__global__ void moe_quantize_fc1_input(MoeParams p);

// The same for the mma.sync kernels (no x_hat plane): into the slot's xq codes and scales, or, where the workspace
// has an x_fp16 plane (8-token narrow kernels), into its row as their fp16 operand. Grid: any size. It may be
// launched with programmatic stream serialization (pdl.cuh): it waits for the routing first and signals its dependants
// only after that wait, so a kernel after it finds the routing complete when it starts.
__global__ void moe_quantize_fc1_codes(MoeParams p);

// Whether moe_quantize_fc1_input may run per token: one gs1 for every expert and the wgmma kernels' x_hat plane (the
// codes plane of the mma.sync kernels is quantised per slot: static calls, whose K-fold quantisation is small beside
// their GEMMs' weight stream). It does when the tokens are fewer than the slots; an expert-parallel rank can hold
// fewer local pairs than tokens.
__host__ __device__ inline bool may_quantize_per_token(const MoeParams& p) {
  return p.x_hat != nullptr && p.input_scale_shared();
}

// Plain rows: x [rows, cols] with one device-resident global scale into codes [rows, cols/2], scales [rows, cols/16].
__global__ void nvfp4_quantize_rows(const __nv_bfloat16* x, int32_t rows, int32_t cols, const float* global_scale,
                                    uint8_t* codes, uint8_t* scales);

}  // namespace b12x
