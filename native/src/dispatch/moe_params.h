// The device-side description of one fused-MoE call: the caller's tensors plus the workspace planes, passed by
// value to every kernel of the call.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>
#include "../common/scale_layout.cuh"
#include "plane_pitch.h"

namespace b12x {

// A per-expert float32 scalar: value of local expert l is values[base + stride * l]; values == nullptr = absent.
struct ExpertScalar {
  const float* values;
  int32_t stride;
  int32_t base;

  __device__ __forceinline__ float at(int32_t local_expert) const { return values[base + stride * local_expert]; }
};

struct MoeParams {
  int32_t tokens, hidden, intermediate, num_experts, local_experts, local_offset, top_k;
  int32_t w1_rows;  // 2I for silu, I for relu2
  bool gated, nvfp4, reciprocal_alphas, ids_int64;

  const __nv_bfloat16* x;
  const uint8_t* w1;
  const uint8_t* w1_scales;
  const uint8_t* w2;
  const uint8_t* w2_scales;
  ScaleAddressing w1_sa, w2_sa;
  const void* ids;
  const float* routing_weights;
  ExpertScalar w1_alpha, w2_alpha, gs2, gs1;
  __nv_bfloat16* out;

  // Workspace planes (see workspace_layout.h).
  int32_t* counts;       // [L] routed pairs per local expert
  int32_t* cursor;       // [L] fill cursor of the scatter
  int32_t* offsets;      // [L+1] first slot of each expert (expert-major slots)
  int32_t* tile_prefix;  // [L+1] first token tile of each expert
  int32_t* queue_heads;  // [2] work-queue heads of the persistent FC1 / FC2 grids
  int32_t* slot_pair;    // [P] pair index t*K + k of each slot
  int32_t* slot_expert;  // [P] local expert of each slot
  int32_t* pair_slot;    // [P] slot of each pair t*K + k, -1 for a pair without a local expert
  int4* tile_map;        // [P + min(L, P)] (local expert, first slot, slots, 0) of each token tile, by tile number
  uint8_t* xq_codes;     // [P, H/2]   FC1 input, NVFP4
  uint8_t* xq_scales;    // [P, scale_row_pitch(H)]
  uint8_t* aq_codes;     // [P, I/2]   FC2 input, NVFP4
  uint8_t* aq_scales;    // [P, scale_row_pitch(I)]
  __nv_bfloat16* a_bf16; // [P, I]     FC2 input, W4A16
  uint32_t* x_fp16;      // [P, H/2]   FC1 input as exact fp16 pairs: micro NVFP4 by pair in block order
                         //            (moe_micro_nvfp4.cu), 8-token narrow by slot (narrow_operand.cuh); else null
  uint32_t* a_fp16;      // [P, I/2]   FC2 input, the same way
  __half* x_hat;         // [P, wgmma_row_pitch(H)] wgmma kernels: FC1 input as exact fp16 values (wgmma_operand.cuh)
  __half* a_hat;         // [P, wgmma_row_pitch(I)] wgmma kernels: FC2 input, the same way; both nullptr otherwise
  float* y;              // [P, H]     fp32(w * alpha2) * FC2 row, by pair index
  int32_t token_tile;    // tokens per GEMM tile of this strategy
  bool narrow;           // the static call runs the narrow NVFP4 kernels (moe_narrow_nvfp4.cuh)

  __device__ __forceinline__ int32_t pairs() const { return tokens * top_k; }

  // Local expert of pair p, or -1 when its id is negative, >= E or outside this rank's range. int64 ids are
  // compared as int64, so no id aliases a valid one by truncation.
  __device__ __forceinline__ int32_t local_expert_of(int32_t pair) const {
    int64_t id = ids_int64 ? static_cast<const int64_t*>(ids)[pair]
                           : static_cast<int64_t>(static_cast<const int32_t*>(ids)[pair]);
    if (id < 0 || id >= num_experts) return -1;
    int64_t local = id - local_offset;
    return (local >= 0 && local < local_experts) ? static_cast<int32_t>(local) : -1;
  }

  // alpha1 (FC1 output scale) and gs1 (FC1 input scale) of a local expert, semantics.md "Scales".
  __device__ __forceinline__ float alpha1(int32_t l) const {
    float w1a = w1_alpha.at(l);
    if (!nvfp4) return reciprocal_alphas ? __frcp_rn(w1a) : w1a;
    return gs1.values != nullptr ? __fmul_rn(w1a, gs1.at(l)) : w1a;
  }
  __device__ __forceinline__ float input_scale(int32_t l) const {
    return gs1.values != nullptr ? gs1.at(l) : w1_alpha.at(l);
  }
  // Whether every local expert has the same gs1 (a one-element scale, stride 0): FC1's input is then the same for
  // all K pairs of a token and step 1 runs once per token.
  __host__ __device__ __forceinline__ bool input_scale_shared() const {
    return gs1.values != nullptr ? gs1.stride == 0 : w1_alpha.stride == 0;
  }
  __device__ __forceinline__ float alpha2(int32_t l) const {
    float w2a = w2_alpha.at(l);
    return (!nvfp4 && reciprocal_alphas) ? __frcp_rn(w2a) : w2a;
  }
};

}  // namespace b12x
