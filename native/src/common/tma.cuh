// Hopper's bulk copies (the tensor memory accelerator, PTX cp.async.bulk, sm_90 and later): one thread issues a copy
// of a whole tile into shared memory, the hardware computes the addresses, zero-fills what lies outside the tensor and
// counts the bytes that landed on an mbarrier (mbarrier_arrive_expect_tx announces them). The destination is this
// CTA's shared memory (a CTA is a cluster of one).
#pragma once
#include <cuda.h>
#include <cstdint>
#include "cp_async.cuh"  // shared_address

namespace b12x {

// Box (x, y) of a 2-D tensor map (tensor_map.h): x counts elements along the contiguous dimension, y rows. `barrier` is
// the shared address of the mbarrier that counts the bytes (mbarrier.cuh), here and in bulk_load.
__device__ __forceinline__ void tma_load_2d(void* smem, const CUtensorMap* map, int32_t x, int32_t y,
                                            uint32_t barrier) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::
          "r"(shared_address(smem)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(barrier)
      : "memory");
#endif
}

// `bytes` contiguous bytes (a multiple of 16, both addresses 16-byte aligned).
__device__ __forceinline__ void bulk_load(void* smem, const void* gmem, uint32_t bytes, uint32_t barrier) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   shared_address(smem)),
               "l"(gmem), "r"(bytes), "r"(barrier)
               : "memory");
#endif
}

}  // namespace b12x
