// NVFP4 operands of fp16 tensor-core MMAs whose 16-block sums come out exact, before any block scale is applied
// (the micro NVFP4 kernels, kernels/moe_micro_nvfp4.cu), and exact fp16 values of whole blocks (the wgmma kernels'
// weights and token planes, kernels/moe_gemm_wgmma.cu).
//
// Weight codes: an fp16 whose high byte is s 0 0 0 e1 e0 m 0 and low byte zero reads as value * 2^-14 exactly: the
// magnitude field lands on the two low exponent bits and the top mantissa bit (e = 0 gives the subnormal m * 2^-15,
// code 1 = 0.5; e >= 1 gives 2^(e-15) * (1 + m/2)) and s is the sign. e2m1_word_fp16 forms that high byte for the 4
// even and the 4 odd codes of a word with three or four bit operations each, then one byte permute per fp16x2:
// 11 instructions per 8 codes. Pairs are (n_i, n_{i+4}), so the two codes of a pair sit in bytes i/2 and i/2 + 2.
//
// Token values: an NVFP4 value code * scale has at most 6 significant bits and lies in [2^-10, 2688] (or is 0), so it
// is exact in fp16. Every MMA product code * value * 2^-14 is then exact, and so is a 16-block's sum: all its terms
// are multiples of the block's token scale times 2^-16 and the sum stays below 2^12 such units, far inside fp32's 24
// bits, whatever order the tensor core adds them in. Multiplying that sum by the E4M3 weight scale (4 significant
// bits) is exact too, so one fused multiply-add per block adds the exact block partial sum: the contract's order
// freedom is only in the order of blocks (docs/semantics.md step 2). Accumulators hold 2^-14 times the true sums;
// kBlockSumFix (exact) restores them.
//
// Block order of a staged token block: word t (0..7) holds elements (t, t + 4) for t < 4 and (t + 4, t + 8) for
// t >= 4, the pairs of the block's two code words in the order the weights use them.
#pragma once
#include <cuda_fp16.h>
#include <cstdint>
#include "e4m3.cuh"

namespace b12x {

constexpr float kBlockSumFix = 0x1p14f;  // accumulators of e2m1_pair_fp16 products hold 2^-14 times the sums

// The 8 codes of w as 4 fp16x2 of value * 2^-14: pairs[i] = (n_i low, n_{i+4} high).
__device__ __forceinline__ void e2m1_word_fp16(uint32_t w, uint32_t (&pairs)[4]) {
  const uint32_t even = ((w << 4) & 0x80808080u) | ((w << 1) & 0x0E0E0E0Eu);  // high bytes of n0, n2, n4, n6
  const uint32_t odd = (w & 0x80808080u) | ((w >> 3) & 0x0E0E0E0Eu);         // high bytes of n1, n3, n5, n7
  pairs[0] = __byte_perm(even, 0u, 0x2404);  // bytes (0, n0, 0, n4): selector 4 is a zero byte of the second word
  pairs[1] = __byte_perm(odd, 0u, 0x2404);
  pairs[2] = __byte_perm(even, 0u, 0x3414);
  pairs[3] = __byte_perm(odd, 0u, 0x3414);
}

// Elements of word t of a block in block order (see above): low half, then high half = low + 4.
__host__ __device__ constexpr int block_order_low(int t) { return (t & 3) + (t >= 4 ? 8 : 0); }

// Index (in fp16 halves of the block's 8 words) of element i in block order: element i is the low half of word t for
// i = 0..3 (t = i) and 8..11 (t = i - 4), and i + 4 the high half of the same word.
__host__ __device__ constexpr int block_order_position(int i) { return 2 * ((i & 3) | ((i & 8) >> 1)) + ((i >> 2) & 1); }
static_assert(block_order_position(4) == 1 && block_order_position(8) == 8 && block_order_position(15) == 15,
              "block_order_position agrees with block_order_low");

// Two E4M3 bytes (low byte first) as two floats, exactly (0x7F / 0xFF give NaN, as e4m3_decode).
__device__ __forceinline__ float2 e4m3x2_to_float2(uint32_t two) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  uint32_t h;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;\n" : "=r"(h) : "h"(static_cast<unsigned short>(two & 0xFFFFu)));
  return __half22float2(*reinterpret_cast<const __half2*>(&h));
#else
  return make_float2(e4m3_decode(two & 0xFFu), e4m3_decode((two >> 8) & 0xFFu));
#endif
}

// Two E4M3 bytes (low byte first) as an fp16x2 of their values, exactly: E4M3's range [2^-9, 448] lies inside fp16's
// (0x7F / 0xFF give NaN).
__device__ __forceinline__ uint32_t e4m3x2_to_fp16x2(uint32_t two) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  uint32_t h;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;\n" : "=r"(h) : "h"(static_cast<unsigned short>(two & 0xFFFFu)));
  return h;
#else
  const float2 f = e4m3x2_to_float2(two);
  const __half2 h = __floats2half2_rn(f.x, f.y);
  return *reinterpret_cast<const uint32_t*>(&h);
#endif
}

// One E4M3 byte's value in both halves of an fp16x2: the scale operand of dequantize_block_fp16.
__device__ __forceinline__ uint32_t e4m3_to_fp16x2_broadcast(uint32_t byte) {
  return e4m3x2_to_fp16x2(byte * 0x101u);
}

// The 16 values code x scale of one block as fp16 pairs in block order (e2m1_bf16.cuh: pairs [2s] = elements
// (s, s+4), [2s+1] = (8+s, 12+s)), times 2^-14 or, kExact, as they are. `scale` is the fp16x2
// broadcast of the E4M3 scale (e4m3_to_fp16x2_broadcast). Exact: code x 2^-14 x scale has at most 6
// significant bits, its lowest at 2^-24 or above (code 0.5 = 2^-1, the least scale 2^-9), which fp16 keeps even as a
// subnormal, and at most 6 x 448 x 2^-14 < 1; the factor 2^14 then brings it to its true value, at most 2688.
template <bool kExact>
__device__ __forceinline__ void dequantize_block_fp16(uint2 codes, uint32_t scale, uint32_t (&pairs)[8]) {
  constexpr uint32_t kTwoTo14 = 0x74007400u;  // fp16x2 (2^14, 2^14)
  uint32_t low[4], high[4];
  e2m1_word_fp16(codes.x, low);
  e2m1_word_fp16(codes.y, high);
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    __half2 l = __hmul2(*reinterpret_cast<const __half2*>(&low[s]), *reinterpret_cast<const __half2*>(&scale));
    __half2 h = __hmul2(*reinterpret_cast<const __half2*>(&high[s]), *reinterpret_cast<const __half2*>(&scale));
    if constexpr (kExact) {
      l = __hmul2(l, *reinterpret_cast<const __half2*>(&kTwoTo14));
      h = __hmul2(h, *reinterpret_cast<const __half2*>(&kTwoTo14));
    }
    pairs[2 * s] = *reinterpret_cast<const uint32_t*>(&l);
    pairs[2 * s + 1] = *reinterpret_cast<const uint32_t*>(&h);
  }
}

// fp16 pair of two values known to be exact in fp16 (code * scale of an NVFP4 block).
__device__ __forceinline__ uint32_t fp16x2_bits(float low, float high) {
  const __half2 h = __floats2half2_rn(low, high);
  return *reinterpret_cast<const uint32_t*>(&h);
}

}  // namespace b12x
