// The 8-token narrow kernels' token operand (moe_narrow_nvfp4.cu): each slot's FC1 or FC2 input row as exact fp16
// values, code × scale × 2^-7, in the order a lane's B fragments take them, so that the kernel loads a lane's pairs of
// two blocks with one 16-byte shared read and converts nothing. Written by step 1's quantiser (FC1 input) and by the
// narrow FC1 epilogue (FC2 input).
//
// Order: block b of the row (slab s = b / 8, chunk q = (b % 8) / 2, half = b % 2) gives lane column c (0..3; h = c / 2,
// e = c % 2) the fp16 pairs r = 0, 1 of elements (8h + 2e + r, 8h + 2e + r + 4): the k slots that lane's weight code
// word fills (lane_codes in moe_narrow_nvfp4.cu). They sit at word 64 s + 4 (4 q + c) + 2 half + r of the row, which
// is K / 2 words long; the 4 words of (q, c) are one 16-byte chunk.
//
// Exactness: an NVFP4 value has at most 6 significant bits and lies in [2^-10, 2688] (or is 0); times 2^-7 it keeps
// them above fp16's smallest subnormal (2^-24) and below its largest value, the same fp16 the kernels formed before
// from the codes and the scale (e2m1_fp16.cuh).
#pragma once
#include <cuda_fp16.h>
#include <cstdint>
#include "../common/e2m1.cuh"

namespace b12x {

constexpr float kNarrowTokenScale = 0x1p-7f;

// Word of the row holding the pair (low element) `element` of block `block`; element % 8 < 4.
__host__ __device__ constexpr int32_t narrow_operand_word(int32_t block, int element) {
  return 64 * (block / 8) + 4 * (4 * ((block % 8) / 2) + 2 * (element / 8) + (element / 2) % 2) + 2 * (block % 2) +
         element % 2;
}
static_assert(narrow_operand_word(0, 0) == 0 && narrow_operand_word(0, 1) == 1 && narrow_operand_word(1, 0) == 2,
              "pairs r = 0, 1 of block 2q, then of block 2q+1, in a lane's chunk");
static_assert(narrow_operand_word(0, 2) == 4 && narrow_operand_word(0, 8) == 8 && narrow_operand_word(2, 0) == 16 &&
                  narrow_operand_word(8, 0) == 64,
              "lane column c = 2h + e, then chunk q, then slab");

// The fp16 pair of elements `element` and `element` + 4 of block `block` (their exact values) into `row`.
__device__ __forceinline__ void store_narrow_pair(uint32_t* row, int32_t block, int element, float low, float high) {
  const __half2 pair = __floats2half2_rn(low * kNarrowTokenScale, high * kNarrowTokenScale);
  row[narrow_operand_word(block, element)] = *reinterpret_cast<const uint32_t*>(&pair);
}

// NVFP4 block `block` (codes: elements 0..7 in .x, 8..15 in .y; q: its decoded scale) into `row` of the plane.
__device__ __forceinline__ void store_narrow_block(uint32_t* row, int32_t block, uint2 codes, float q) {
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    if (i % 8 >= 4) continue;  // the high element of a pair
    const uint32_t word = i < 8 ? codes.x : codes.y, shift = 4 * (i % 8);
    store_narrow_pair(row, block, i, __fmul_rn(e2m1_decode((word >> shift) & 0xFu), q),
                      __fmul_rn(e2m1_decode((word >> (shift + 16)) & 0xFu), q));
  }
}

}  // namespace b12x
