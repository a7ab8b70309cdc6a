// E2M1, the 4-bit element format of NVFP4: bit 3 sign, bits 2..0 index the magnitudes {0, .5, 1, 1.5, 2, 3, 4, 6}.
// Two codes per byte, element 2j in the low nibble. Mirrors src/Microsoft.ML.B12x/Formats/E2M1.cs (tested against
// each other through the quantiser entry point).
#pragma once
#include <cstdint>

namespace b12x {

// Round to nearest, ties to the even code, saturate at +-6; a negative value rounding to 0 keeps its sign (code 8);
// NaN encodes to +0. The magnitudes are steps of 0.5 below 2, of 1 below 4 and of 2 above, so the code is the
// magnitude in its range's steps rounded to nearest even (exact: the scaling is by a power of two) plus the range's
// first code, capped at 7; the same codes as comparing against the midpoints, for every fp32 input.
__device__ __forceinline__ uint32_t e2m1_encode(float v) {
  const float a = fabsf(v);
  const float steps = a < 2.0f ? 2.0f : a < 4.0f ? 1.0f : 0.5f;
  const float first = a < 2.0f ? 0.0f : a < 4.0f ? 2.0f : 4.0f;
  const uint32_t code = static_cast<uint32_t>(fminf(rintf(a * steps) + first, 7.0f)) | ((__float_as_uint(v) >> 28) & 8u);
  return a == a ? code : 0u;  // computed for NaN too (fminf gives 7), then dropped: no branch per element
}

// Magnitude of a code's low three bits, as float: index 0-3 give index/2 (0, .5, 1, 1.5); index 4-7 give
// (2 + m) * 2^(e - 2) with e = index >> 1 and m = index & 1 (2, 3, 4, 6).
__device__ __forceinline__ float e2m1_magnitude(uint32_t index) {
  return index < 4u ? 0.5f * static_cast<float>(index)
                    : static_cast<float>((2u + (index & 1u)) << ((index >> 1) - 2u));
}

__device__ __forceinline__ float e2m1_decode(uint32_t code) {
  float m = e2m1_magnitude(code & 7u);
  return (code & 8u) ? -m : m;
}

}  // namespace b12x
