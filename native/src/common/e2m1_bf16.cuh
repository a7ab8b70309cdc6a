// E2M1 codes to bf16 MMA operands with a few bit operations (no table), and the element order that makes it cheap.
//
// Pairing: a 32-bit word holds 8 codes n0..n7 (n0 in the low nibble). Pair i (0..3) is the bf16x2 with n_i in the
// low half and n_{i+4} in the high half. In that pairing both codes of a pair are 16 bits apart in the word, like
// their bf16 halves, so one shift moves both sign bits (4i+3, 4i+19 -> 15, 31) and one shift both magnitude fields
// (e1 e0 m at 4i, 4i+16 -> 6..8, 22..24): two shifts and two masks per pair.
//
// Value: the magnitude field e1 e0 m placed at bits 6..8 is a bf16 with exponent field e and top mantissa bit m,
// which reads as |value| * 2^-126 exactly (code 1, 0.5, becomes the subnormal 2^-127; bf16 arithmetic keeps
// subnormals). Weights are then multiplied by their block scale times 2^kWeightScaleExponent (at most
// 448 * 2^119 < bf16's maximum), which gives value * scale * 2^-7 exactly (6 significant bits, far above bf16's
// smallest normal), so accumulators of weight products hold 2^-7 times the true sums; kWeightProductFix (2^7, exact)
// restores them before anything else reads them. Token operands are restored exactly (x 2^126, then x scale).
//
// Block order: a lane's 16-element block feeds 4 MMA k-steps; k-step s takes pair s of the block's first word
// (elements s, s+4) as its first register and pair s of the second word (8+s, 12+s) as its second. A token block
// staged in shared memory is stored in that order, bf16 pairs [2s] = (x[s], x[s+4]) and [2s+1] = (x[8+s], x[12+s]),
// so k-step s reads one 8-byte word at element 4s.
#pragma once
#include <cuda_bf16.h>
#include <cstdint>
#include "e4m3.cuh"

namespace b12x {

constexpr int kWeightScaleExponent = 119;
constexpr float kWeightProductFix = 0x1p7f;  // 2^(126 - kWeightScaleExponent)
static_assert(126 - kWeightScaleExponent == 7, "kWeightProductFix is 2^(126 - kWeightScaleExponent)");

// Pair i of the word's codes as bf16 bits of |value| * 2^-126 with the codes' signs.
template <int i>
__device__ __forceinline__ uint32_t e2m1_pair_bits(uint32_t w) {
  static_assert(i >= 0 && i < 4, "a word holds 4 pairs");
  constexpr int kField = 6 - 4 * i, kSign = 12 - 4 * i;
  const uint32_t field = (kField >= 0 ? w << kField : w >> -kField) & 0x01C001C0u;
  return field | ((w << kSign) & 0x80008000u);
}

__device__ __forceinline__ uint32_t e2m1_pair_bits(uint32_t w, int i) {
  switch (i) {
    case 0: return e2m1_pair_bits<0>(w);
    case 1: return e2m1_pair_bits<1>(w);
    case 2: return e2m1_pair_bits<2>(w);
    default: return e2m1_pair_bits<3>(w);
  }
}

__device__ __forceinline__ uint32_t bf16x2_mul(uint32_t a, uint32_t b) {
  __nv_bfloat162 r = __hmul2(*reinterpret_cast<__nv_bfloat162*>(&a), *reinterpret_cast<__nv_bfloat162*>(&b));
  return *reinterpret_cast<uint32_t*>(&r);
}

// A weight block scale as the bf16x2 broadcast of scale * 2^kWeightScaleExponent (exact: 3 mantissa bits).
__device__ __forceinline__ uint32_t weight_scale_bf16x2(uint32_t e4m3) {
  return __byte_perm(__float_as_uint(e4m3_decode(e4m3) * 0x1p119f), 0u, 0x3232);
}

// The 16 exact values codes x scale of one block (codes: elements 0..7 in .x, 8..15 in .y; scale: bf16x2 broadcast)
// as 8 bf16 pairs in block order.
__device__ __forceinline__ void dequantize_block_ordered(uint2 codes, uint32_t scale, uint32_t (&pairs)[8]) {
  constexpr uint32_t kTwoTo126 = 0x7E807E80u;  // bf16x2 (2^126, 2^126)
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    pairs[2 * s] = bf16x2_mul(bf16x2_mul(e2m1_pair_bits(codes.x, s), kTwoTo126), scale);
    pairs[2 * s + 1] = bf16x2_mul(bf16x2_mul(e2m1_pair_bits(codes.y, s), kTwoTo126), scale);
  }
}

// Pair j of natural bf16 pairs (natural[j] = elements 2j, 2j+1; registers or shared memory) in block order.
__device__ __forceinline__ uint32_t ordered_pair(const uint32_t* natural, int j) {
  const int s = j >> 1, base = (j & 1) * 4;           // pair 2s: elements s, s+4; pair 2s+1: 8+s, 12+s
  const uint32_t selector = (s & 1) ? 0x7632u : 0x5410u;  // high or low halves of the two source pairs
  return __byte_perm(natural[base + (s >> 1)], natural[base + (s >> 1) + 2], selector);
}

// 16 bf16 values in natural order (natural[j] = elements 2j, 2j+1) to block order.
__device__ __forceinline__ void order_block(const uint32_t (&natural)[8], uint32_t (&pairs)[8]) {
#pragma unroll
  for (int j = 0; j < 8; ++j) pairs[j] = ordered_pair(natural, j);
}

}  // namespace b12x
