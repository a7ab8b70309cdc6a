// E2M1, the 4-bit element format of NVFP4: bit 3 sign, bits 2..0 index the magnitudes {0, .5, 1, 1.5, 2, 3, 4, 6}.
// Two codes per byte, element 2j in the low nibble. Mirrors src/Microsoft.ML.B12x/Formats/E2M1.cs (tested against
// each other through the quantiser entry point).
#pragma once
#include <cstdint>

namespace b12x {

// Round to nearest, ties to the even code, saturate at +-6; a negative value rounding to 0 keeps its sign (code 8);
// NaN encodes to +0. Comparisons only, so there is no rounding of its own.
__device__ __forceinline__ uint32_t e2m1_encode(float v) {
  float a = fabsf(v);
  uint32_t m = a <= 0.25f ? 0u : a < 0.75f ? 1u : a <= 1.25f ? 2u : a < 1.75f ? 3u
             : a <= 2.5f ? 4u : a < 3.5f ? 5u : a <= 5.0f ? 6u : a > 5.0f ? 7u : 0u;  // last arm: NaN
  uint32_t sign = (__float_as_uint(v) >> 31) & (a == a ? 1u : 0u);
  return m | (sign << 3);
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
