// Step 1 of the contract (docs/semantics.md): NVFP4 quantisation of one 16-element block with a global scale gs in
// divisor form. Every operation is an explicitly rounded fp32 intrinsic, so no FMA contraction or fast-math can
// change a bit; the result is bit-identical to the C# quantiser (Quantization/) on every architecture.
#pragma once
#include <cuda_bf16.h>
#include <cstdint>
#include "e2m1.cuh"
#include "e4m3.cuh"

namespace b12x {

struct QuantizedBlock {
  uint32_t scale;     // E4M3 byte
  uint32_t codes[2];  // 8 packed bytes: element 2j in the low nibble of byte j, little-endian words
  float q;            // decoded block scale: dequantised value = e2m1(code) * q
};

// The larger of a running amax and |v|, NaN left out (a NaN element encodes to code 0, as in the C# quantiser), so
// non-finite blocks give the same bytes on every backend. The max of non-NaN values does not depend on the order.
__device__ __forceinline__ float amax_with(float amax, float v) {
  const float a = fabsf(v);
  return a > amax ? a : amax;
}

// The block's E4M3 scale byte and its decoded value q from the block's amax.
__device__ __forceinline__ void block_scale_of(float amax, float gs, uint32_t& scale, float& q) {
  const float d = __fmul_rn(6.0f, gs);
  float s = __fdiv_rn(amax, d);
  s = s > 448.0f ? 448.0f : s;  // min(s, 448), NaN kept (as MathF.Min)
  scale = e4m3_encode(s);
  q = e4m3_decode(scale);
}

// What a block's elements are multiplied by before encoding: fp32(1 / fp32(q * gs)). Computed once per block: the
// IEEE reciprocal is a dozen instructions and a slow-path call, which the compiler does not hoist out of a loop.
__device__ __forceinline__ float block_code_factor(float q, float gs) { return __frcp_rn(__fmul_rn(q, gs)); }

// The E2M1 code of one element of a block with decoded scale q (0 when q is 0) and factor block_code_factor(q, gs).
__device__ __forceinline__ uint32_t block_code_of(float v, float q, float factor) {
  const uint32_t code = e2m1_encode(__fmul_rn(v, factor));
  return q != 0.0f ? code : 0u;
}

// 16 bf16 values (32 bytes, 16-byte aligned: rows are multiples of 16 elements) as fp32, exactly.
__device__ __forceinline__ void load_bf16_block16(const __nv_bfloat16* src, float (&v)[16]) {
  const uint4* p = reinterpret_cast<const uint4*>(src);
  const uint4 lo = p[0], hi = p[1];
  const uint32_t words[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    v[2 * i] = __uint_as_float(words[i] << 16);
    v[2 * i + 1] = __uint_as_float(words[i] & 0xFFFF0000u);
  }
}

__device__ __forceinline__ QuantizedBlock quantize_block16(const float (&v)[16], float gs) {
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < 16; ++i) amax = amax_with(amax, v[i]);
  QuantizedBlock out;
  block_scale_of(amax, gs, out.scale, out.q);
  out.codes[0] = 0u;
  out.codes[1] = 0u;
  const float factor = block_code_factor(out.q, gs);
#pragma unroll
  for (int i = 0; i < 16; ++i) out.codes[i >> 3] |= block_code_of(v[i], out.q, factor) << ((i & 7) * 4);
  return out;
}

}  // namespace b12x
