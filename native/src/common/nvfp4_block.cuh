// Step 1 of the contract (docs/semantics.md): NVFP4 quantisation of one 16-element block with a global scale gs in
// divisor form. Every operation is an explicitly rounded fp32 intrinsic, so no FMA contraction or fast-math can
// change a bit; the result is bit-identical to the C# quantiser (Quantization/) on every architecture.
#pragma once
#include <cstdint>
#include "e2m1.cuh"
#include "e4m3.cuh"

namespace b12x {

struct QuantizedBlock {
  uint32_t scale;     // E4M3 byte
  uint32_t codes[2];  // 8 packed bytes: element 2j in the low nibble of byte j, little-endian words
  float q;            // decoded block scale: dequantised value = e2m1(code) * q
};

__device__ __forceinline__ QuantizedBlock quantize_block16(const float (&v)[16], float gs) {
  // A NaN element is left out of amax (and encodes to code 0), as in the C# quantiser, so non-finite blocks give
  // the same bytes on every backend.
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    float a = fabsf(v[i]);
    amax = a > amax ? a : amax;
  }
  float d = __fmul_rn(6.0f, gs);
  float s = __fdiv_rn(amax, d);
  s = s > 448.0f ? 448.0f : s;  // min(s, 448), NaN kept (as MathF.Min)
  QuantizedBlock out;
  out.scale = e4m3_encode(s);
  out.q = e4m3_decode(out.scale);
  out.codes[0] = 0u;
  out.codes[1] = 0u;
  if (out.q != 0.0f) {
    float m = __frcp_rn(__fmul_rn(out.q, gs));
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      out.codes[i >> 3] |= e2m1_encode(__fmul_rn(v[i], m)) << ((i & 7) * 4);
    }
  }
  return out;
}

}  // namespace b12x
