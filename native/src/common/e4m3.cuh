// E4M3 "FN", the block-scale format of NVFP4: sign bit 7, exponent bias 7, 3 mantissa bits, no infinities,
// 0x7F/0xFF NaN, max 448, subnormals m/8 * 2^-6. Mirrors src/Microsoft.ML.B12x/Formats/E4M3.cs. The encoder is
// written out in integer arithmetic (rather than cvt.rn.satfinite.e4m3x2.f32, which sm_80 lacks) so every
// architecture produces the same bytes as the C# encoder.
#pragma once
#include <cstdint>

namespace b12x {

// Branch-free: (b & 0x7F) << 20 puts the 4 exponent and 3 mantissa bits where fp32 keeps its lowest exponent bits
// and top mantissa bits, which reads as |v| * 2^-120 exactly (E4M3 subnormals m * 2^-9 land on fp32 subnormals
// m * 2^-129); the multiplication by 2^120 restores |v| exactly (the library is built without flush-to-zero).
__device__ __forceinline__ float e4m3_decode(uint32_t b) {
  const uint32_t magnitude = b & 0x7Fu;
  const uint32_t bits = magnitude == 0x7Fu ? 0x7FC00000u : __float_as_uint(__uint_as_float(magnitude << 20) * 0x1p120f);
  return __uint_as_float(bits | ((b & 0x80u) << 24));
}

// The scale as a bf16x2 broadcast (both halves): an E4M3 value has 3 mantissa bits, so the upper half of its fp32
// bits is its exact bf16.
__device__ __forceinline__ uint32_t e4m3_to_bf16x2(uint32_t b) {
  return __byte_perm(__float_as_uint(e4m3_decode(b)), 0u, 0x3232);
}

__device__ __forceinline__ uint32_t e4m3_encode(float v) {
  uint32_t bits = __float_as_uint(v);
  uint32_t sign = (bits >> 24) & 0x80u;
  uint32_t abs_bits = bits & 0x7FFFFFFFu;
  if (abs_bits > 0x7F800000u) return 0x7Fu;
  if (abs_bits >= 0x43E00000u) return sign | 0x7Eu;  // |v| >= 448
  int exponent = static_cast<int>(abs_bits >> 23) - 127;
  uint32_t mantissa = abs_bits & 0x7FFFFFu;
  if (exponent < -6) {
    // Subnormal target: the value in units of 2^-9, rounded to nearest even. value = significand * 2^(exponent-23),
    // so units = significand >> (14 - exponent). Below 2^-17 the value is under half a unit (2^-10): zero.
    if (exponent < -17) return sign;
    uint32_t significand = mantissa | 0x800000u;
    int shift = 14 - exponent;  // 21..31
    uint32_t units = significand >> shift;
    uint32_t rest = significand & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (units & 1u))) ++units;
    return sign | units;  // units == 8 is the smallest normal, byte 0x08
  }
  // Normal target: keep 3 mantissa bits, round to nearest even on the 20 dropped bits.
  uint32_t kept = mantissa >> 20;
  uint32_t rest = mantissa & 0xFFFFFu;
  if (rest > 0x80000u || (rest == 0x80000u && (kept & 1u))) ++kept;
  uint32_t field = static_cast<uint32_t>(exponent + 7);
  if (kept == 8u) { kept = 0u; ++field; }
  if (field > 15u || (field == 15u && kept > 6u)) return sign | 0x7Eu;
  return sign | (field << 3) | kept;
}

}  // namespace b12x
