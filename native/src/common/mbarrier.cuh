// Shared-memory barriers with phases (PTX mbarrier, sm_90 and later for the waits used here). A ring stage has two:
// `full` completes a phase when every copy into the stage has landed, `empty` when every consumer is done with it, so
// producers and consumers of different stages never wait for each other as a CTA-wide barrier would make them.
//
// Phase u of a barrier completes when `count` arrivals have been made since phase u - 1; waiting on parity u & 1
// returns once phase u has completed (a wait for an older phase of the same parity would return at once, so a waiter
// must not fall two phases behind: the ring's protocol guarantees it).
//
// Barriers are named by their shared-memory address (shared_address), which a kernel computes once: converting a
// generic pointer back on every wait and arrival cost about five instructions each in the wgmma kernels' K loop.
#pragma once
#include <cstdint>
#include "cp_async.cuh"  // shared_address

namespace b12x {

__device__ __forceinline__ void mbarrier_init(uint32_t barrier, uint32_t count) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(barrier), "r"(count) : "memory");
#endif
}

// One arrival, with release semantics for this thread's earlier memory accesses.
__device__ __forceinline__ void mbarrier_arrive(uint32_t barrier) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(barrier) : "memory");
#endif
}

// One arrival that also announces `bytes` more to come from bulk copies (tma.cuh) completing on this barrier: the
// phase completes when its arrivals are made and those bytes have landed.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint32_t barrier, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(barrier), "r"(bytes)
               : "memory");
#endif
}

// Returns once the phase of parity `parity` has completed (acquire semantics).
__device__ __forceinline__ void mbarrier_wait(uint32_t barrier, uint32_t parity) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "wait_again:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_again;\n"
      "}\n" ::"r"(barrier),
      "r"(parity)
      : "memory");
#endif
}

}  // namespace b12x
