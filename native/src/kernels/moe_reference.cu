#include "moe_reference.cuh"
#include "../common/activation.cuh"
#include "../common/e2m1.cuh"
#include "../common/e4m3.cuh"
#include "../common/nvfp4_block.cuh"

namespace b12x {
namespace {

// Dequantised weight w[row, k] of a local expert's matrix.
__device__ __forceinline__ float weight_at(const uint8_t* codes, const uint8_t* scales, const ScaleAddressing& sa,
                                           int32_t expert, int64_t expert_rows, int32_t k_len, int32_t row, int32_t k) {
  const uint8_t byte = codes[(expert * expert_rows + row) * (k_len / 2) + k / 2];
  return __fmul_rn(e2m1_decode((k & 1) ? byte >> 4 : byte & 15u), e4m3_decode(scales[sa.offset(expert, row, k / 16)]));
}

// Dot product of one weight row with the fp32 input row in canonical order.
__device__ float canonical_dot(const float* input, const uint8_t* codes, const uint8_t* scales, const ScaleAddressing& sa,
                               int32_t expert, int64_t expert_rows, int32_t k_len, int32_t row, bool blockwise) {
  float acc = 0.0f;
  for (int32_t b = 0; b < k_len / 16; ++b) {
    if (blockwise) {
      float partial = 0.0f;  // exact whatever the order: NVFP4 products share the unit q * scale / 4
      for (int32_t i = 0; i < 16; ++i) {
        partial = fmaf(input[16 * b + i], weight_at(codes, scales, sa, expert, expert_rows, k_len, row, 16 * b + i), partial);
      }
      acc = __fadd_rn(acc, partial);
    } else {
      for (int32_t i = 0; i < 16; ++i) {
        // The product is exact (bf16 x E2M1*E4M3), so fma equals an fp32 add of the product.
        acc = fmaf(input[16 * b + i], weight_at(codes, scales, sa, expert, expert_rows, k_len, row, 16 * b + i), acc);
      }
    }
  }
  return acc;
}

// Loads a slot's input row as fp32: NVFP4 codes * block scale, or bf16 values.
__device__ void load_row(float* dst, const uint8_t* codes, const uint8_t* scales, const __nv_bfloat16* values, int32_t len) {
  for (int32_t i = threadIdx.x; i < len; i += blockDim.x) {
    if (codes != nullptr) {
      const uint8_t byte = codes[i / 2];
      dst[i] = __fmul_rn(e2m1_decode((i & 1) ? byte >> 4 : byte & 15u), e4m3_decode(scales[i / 16]));
    } else {
      dst[i] = __bfloat162float(values[i]);
    }
  }
}

}  // namespace

__global__ void __launch_bounds__(kReferenceThreads) moe_reference_fc1(MoeParams p) {
  extern __shared__ float shared[];
  const int32_t slot = blockIdx.x;
  if (slot >= p.offsets[p.local_experts]) return;
  float* input = shared;                 // [H]
  float* inter = shared + p.hidden;      // [I], bf16-rounded activations
  const int32_t l = p.slot_expert[slot];
  if (p.nvfp4) {
    load_row(input, p.xq_codes + static_cast<int64_t>(slot) * (p.hidden / 2),
             p.xq_scales + static_cast<int64_t>(slot) * scale_row_pitch(p.hidden), nullptr, p.hidden);
  } else {
    load_row(input, nullptr, nullptr, p.x + static_cast<int64_t>(p.slot_pair[slot] / p.top_k) * p.hidden, p.hidden);
  }
  __syncthreads();
  const float alpha1 = p.alpha1(l);
  for (int32_t n = threadIdx.x; n < p.intermediate; n += blockDim.x) {
    const float first = __fmul_rn(alpha1, canonical_dot(input, p.w1, p.w1_scales, p.w1_sa, l, p.w1_rows, p.hidden, n, p.nvfp4));
    float a;
    if (p.gated) {
      const float gate = __fmul_rn(alpha1, canonical_dot(input, p.w1, p.w1_scales, p.w1_sa, l, p.w1_rows, p.hidden,
                                                         p.intermediate + n, p.nvfp4));
      a = silu_gated(gate, first);
    } else {
      a = relu_squared(first);
    }
    inter[n] = __bfloat162float(__float2bfloat16_rn(a));
  }
  __syncthreads();
  for (int32_t b = threadIdx.x; b < p.intermediate / 16; b += blockDim.x) {
    if (p.nvfp4) {
      float v[16];
      for (int i = 0; i < 16; ++i) v[i] = inter[16 * b + i];
      const QuantizedBlock q = quantize_block16(v, p.gs2.at(l));
      uint8_t* codes = p.aq_codes + static_cast<int64_t>(slot) * (p.intermediate / 2) + 8 * b;
      for (int j = 0; j < 8; ++j) codes[j] = static_cast<uint8_t>(q.codes[j >> 2] >> ((j & 3) * 8));
      p.aq_scales[static_cast<int64_t>(slot) * scale_row_pitch(p.intermediate) + b] = static_cast<uint8_t>(q.scale);
    } else {
      for (int i = 0; i < 16; ++i) {
        p.a_bf16[static_cast<int64_t>(slot) * p.intermediate + 16 * b + i] = __float2bfloat16_rn(inter[16 * b + i]);
      }
    }
  }
}

__global__ void __launch_bounds__(kReferenceThreads) moe_reference_fc2(MoeParams p) {
  extern __shared__ float shared[];
  const int32_t slot = blockIdx.x;
  if (slot >= p.offsets[p.local_experts]) return;
  float* inter = shared;  // [I]
  const int32_t l = p.slot_expert[slot];
  if (p.nvfp4) {
    load_row(inter, p.aq_codes + static_cast<int64_t>(slot) * (p.intermediate / 2),
             p.aq_scales + static_cast<int64_t>(slot) * scale_row_pitch(p.intermediate), nullptr, p.intermediate);
  } else {
    load_row(inter, nullptr, nullptr, p.a_bf16 + static_cast<int64_t>(slot) * p.intermediate, p.intermediate);
  }
  __syncthreads();
  const int32_t pair = p.slot_pair[slot];
  const float scale = __fmul_rn(p.routing_weights[pair], p.alpha2(l));
  for (int32_t h = threadIdx.x; h < p.hidden; h += blockDim.x) {
    const float acc = canonical_dot(inter, p.w2, p.w2_scales, p.w2_sa, l, p.hidden, p.intermediate, h, p.nvfp4);
    p.y[static_cast<int64_t>(pair) * p.hidden + h] = __fmul_rn(scale, acc);
  }
}

}  // namespace b12x
