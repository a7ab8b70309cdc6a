// Hopper warpgroup MMA (PTX wgmma, sm_90a only): D[64 x N] += A[64 x 16] . B[16 x N], fp16 operands, fp32
// accumulators, issued asynchronously by the 4 warps of a warpgroup.
//
// A comes from registers: warp w of the warpgroup holds rows 16w..16w+15 in exactly the register layout of an
// mma.sync m16n8k16 A fragment.
// D is per warp the m16n8k16 C fragments of its 16 rows, n8 tile j in d[4j..4j+3].
// B comes from shared memory through a matrix descriptor, K-major with the 128-byte swizzle: each token is a 128-byte
// row of 64 K elements whose 16-byte chunk j is stored at chunk j ^ (row % 8); 8 rows form a 1024-byte atom, atoms
// follow each other along N (stride byte offset 1024) from a 1024-byte aligned base, and the k16 slice s of the rows
// starts 32 s bytes into the atom (the hardware applies the XOR to the address bits, so a slice's descriptor is the
// base plus 32 s). Unswizzled layouts read with bank conflicts; this one does not.
//
// Protocol (PTX ISA, "asynchronous warpgroup level matrix multiply"): wgmma_fence() after writing A or D registers and
// before the first wgmma reading them; fence_proxy_async_shared() + a barrier after generic stores to a B tile and
// before a wgmma reads it; wgmma_commit() closes a group; wgmma_wait<n>() returns when at most n groups are pending,
// after which their A registers and B tiles may be rewritten and their D registers read.
#pragma once
#include <cstdint>
#include "cp_async.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define B12X_HAS_WGMMA 1
#else
#define B12X_HAS_WGMMA 0
#endif

namespace b12x {

constexpr int kSwizzleRowBytes = 128;   // one row of the 128-byte swizzle: 64 fp16 of K
constexpr int kSwizzleAtomBytes = 1024; // 8 rows

// Descriptor of k16 slice `slice` of a 128-byte-swizzled, K-major B operand whose 8-row atoms start at shared
// address `atom` (1024-byte aligned; the slice starts 32 slice bytes in): bits 0-13 address / 16, 16-29 leading byte
// offset / 16 (unused by swizzled K-major layouts: 1), 32-45 stride byte offset / 16 (1024 bytes between 8-row atoms),
// bits 62-63 swizzle mode (1 = 128 bytes). Shared addresses of sm_90 and later stay below 256 KB, so address / 16 fits
// its 14 bits without a mask, and slice s of an atom is its slice 0 plus 2 s in the low word: the four descriptors of
// a K step share one shift and one OR instead of taking a mask and two ORs each.
__device__ __forceinline__ uint64_t wgmma_descriptor_sw128(uint32_t atom, int slice) {
  constexpr uint32_t kHigh = (kSwizzleAtomBytes >> 4) | (1u << 30);
  const uint32_t low = ((atom >> 4) | (1u << 16)) + 2 * slice;
  return (static_cast<uint64_t>(kHigh) << 32) | low;
}

__device__ __forceinline__ void wgmma_fence() {
#if B12X_HAS_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wgmma_commit() {
#if B12X_HAS_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}

template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
#if B12X_HAS_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
#endif
}

// Makes this thread's generic-proxy shared-memory stores visible to the async proxy that wgmma reads B through.
__device__ __forceinline__ void fence_proxy_async_shared() {
#if B12X_HAS_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Keeps the compiler from moving accumulator registers across an asynchronous wgmma (they are written behind its
// back until wgmma_wait returns).
template <int kCount>
__device__ __forceinline__ void wgmma_pin(float (&d)[kCount]) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// d += A . B for N = 32, 64, 96 or 128 tokens; a: this lane's A fragment (m16n8k16 layout), b: B's descriptor. Images
// without wgmma get this empty body (their kernels never run it); sm_90a images get the specialisations below.
template <int N>
__device__ __forceinline__ void wgmma_f16_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t b) {
  (void)d;
  (void)a;
  (void)b;
}

#if B12X_HAS_WGMMA
// The accumulator operands of the asm statements below, 16 per block: register names and "+f" constraints.
#define B12X_WGMMA_R0 "%0, %1, %2, %3, %4, %5, %6, %7, " \
  "%8, %9, %10, %11, %12, %13, %14, %15"
#define B12X_WGMMA_R1 "%16, %17, %18, %19, %20, %21, %22, %23, " \
  "%24, %25, %26, %27, %28, %29, %30, %31"
#define B12X_WGMMA_R2 "%32, %33, %34, %35, %36, %37, %38, %39, " \
  "%40, %41, %42, %43, %44, %45, %46, %47"
#define B12X_WGMMA_R3 "%48, %49, %50, %51, %52, %53, %54, %55, " \
  "%56, %57, %58, %59, %60, %61, %62, %63"
#define B12X_WGMMA_D0  \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), \
  "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
  "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), \
  "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
#define B12X_WGMMA_D1  \
  "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), \
  "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
  "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), \
  "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define B12X_WGMMA_D2  \
  "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), \
  "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
  "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), \
  "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47])
#define B12X_WGMMA_D3  \
  "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), \
  "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
  "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), \
  "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
// One m64nNk16 wgmma with A from registers; the scale-d predicate is set (D += A.B), B is K-major (no transpose).
#define B12X_WGMMA_RS(N, DREGS, AREGS, BREG, SCALE, ...)                                                      \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " SCALE ", 0;\nwgmma.mma_async.sync.aligned.m64n" #N           \
               "k16.f32.f16.f16 {" DREGS "}, {" AREGS "}, " BREG ", p, 1, 1, 0;\n}\n"                          \
               : __VA_ARGS__                                                                                 \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1))

template <>
__device__ __forceinline__ void wgmma_f16_rs<32>(float (&d)[16], const uint32_t (&a)[4], uint64_t b) {
  B12X_WGMMA_RS(32, B12X_WGMMA_R0,
                "%16, %17, %18, %19", "%20", "%21",
                B12X_WGMMA_D0);
}
template <>
__device__ __forceinline__ void wgmma_f16_rs<64>(float (&d)[32], const uint32_t (&a)[4], uint64_t b) {
  B12X_WGMMA_RS(64, B12X_WGMMA_R0 ", " B12X_WGMMA_R1,
                "%32, %33, %34, %35", "%36", "%37",
                B12X_WGMMA_D0, B12X_WGMMA_D1);
}
template <>
__device__ __forceinline__ void wgmma_f16_rs<96>(float (&d)[48], const uint32_t (&a)[4], uint64_t b) {
  B12X_WGMMA_RS(96, B12X_WGMMA_R0 ", " B12X_WGMMA_R1 ", " B12X_WGMMA_R2,
                "%48, %49, %50, %51", "%52", "%53",
                B12X_WGMMA_D0, B12X_WGMMA_D1, B12X_WGMMA_D2);
}
template <>
__device__ __forceinline__ void wgmma_f16_rs<128>(float (&d)[64], const uint32_t (&a)[4], uint64_t b) {
  B12X_WGMMA_RS(128, B12X_WGMMA_R0 ", " B12X_WGMMA_R1 ", " B12X_WGMMA_R2 ", "
                    B12X_WGMMA_R3,
                "%64, %65, %66, %67", "%68", "%69",
                B12X_WGMMA_D0, B12X_WGMMA_D1, B12X_WGMMA_D2, B12X_WGMMA_D3);
}
#undef B12X_WGMMA_RS
#undef B12X_WGMMA_R0
#undef B12X_WGMMA_R1
#undef B12X_WGMMA_R2
#undef B12X_WGMMA_R3
#undef B12X_WGMMA_D0
#undef B12X_WGMMA_D1
#undef B12X_WGMMA_D2
#undef B12X_WGMMA_D3
#endif  // B12X_HAS_WGMMA

}  // namespace b12x
