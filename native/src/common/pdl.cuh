// Programmatic dependent launch (sm_90 and later). A kernel launched with programmatic stream serialization may
// start once every CTA of the kernel before it in the stream has called pdl_launch_dependents (or exited), instead of
// after that kernel completes; it must call pdl_wait before it reads anything that kernel writes, and may read the
// caller's inputs before. A kernel that calls pdl_launch_dependents only after its own pdl_wait also guarantees its
// dependants that the kernel before it has completed: the narrow GEMMs read the routing (two kernels back) before
// they wait. Every CTA of such a chain calls pdl_wait before it exits, so that no grid completes before the one it
// depends on. Below sm_90 both calls compile to nothing and launches carry no attribute.
#pragma once
#include <cuda_runtime.h>

namespace b12x {

// Blocks until the kernel before this one in the stream has completed and its writes are visible (a no-op when this
// launch has no programmatic dependency).
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

// Lets the next kernel in the stream start its CTAs (they still wait in pdl_wait for this kernel's results).
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::);
#endif
}

// kernel<<<grid, block, shared_bytes, stream>>>(args...), with programmatic stream serialization when pdl is set.
template <typename... Params, typename... Args>
cudaError_t launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                          bool pdl, Args... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = pdl ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, args...);
}

}  // namespace b12x
