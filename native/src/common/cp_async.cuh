// Asynchronous global-to-shared copies (PTX cp.async, sm_80+). A src_bytes of 0 copies nothing and zero-fills
// the destination, which is how out-of-range rows, tokens and K tails become zeros without a branch around the copy.
#pragma once
#include <cstdint>

namespace b12x {

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async4(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared_address(smem)), "l"(gmem),
               "r"(valid ? 4 : 0));
}

__device__ __forceinline__ void cp_async8(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;\n" ::"r"(shared_address(smem)), "l"(gmem),
               "r"(valid ? 8 : 0));
}

// 16-byte copies bypass L1 (.cg): streamed operands are read once per CTA.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(smem)), "l"(gmem),
               "r"(valid ? 16 : 0));
}

// 16 code bytes: one copy past L1 where source and destination are 16-byte aligned (wide), else two 8-byte copies
// (weight codes are only required to be 8-byte aligned, problem_validation.cpp).
__device__ __forceinline__ void cp_async_chunk16(void* smem, const void* gmem, bool wide, bool valid) {
  if (wide) {
    cp_async16(smem, gmem, valid);
  } else {
    cp_async8(smem, gmem, valid);
    cp_async8(static_cast<unsigned char*>(smem) + 8, static_cast<const unsigned char*>(gmem) + 8, valid);
  }
}

// Asks L2 for the line holding gmem, without waiting for it: weight reads issued before a kernel may read its
// inputs (pdl.cuh) then find their lines on chip.
__device__ __forceinline__ void prefetch_l2(const void* gmem) { asm volatile("prefetch.global.L2 [%0];\n" ::"l"(gmem)); }

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

}  // namespace b12x
