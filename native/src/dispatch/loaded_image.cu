#include "loaded_image.h"

#include <cuda_runtime.h>
#include <atomic>
#include <cstdint>
#include "../kernels/moe_combine.cuh"
#include "../kernels/moe_gemm_wgmma.cuh"

namespace b12x {
namespace {

constexpr int kCachedDevices = 64;
constexpr int8_t kKnown = 1, kWgmma = 2, kPdl = 4;

int8_t query(int device) {
  int current = 0;
  cudaFuncAttributes wgmma{}, combine{};
  const bool queried = cudaGetDevice(&current) == cudaSuccess && cudaSetDevice(device) == cudaSuccess &&
                       wgmma_kernel_attributes(&wgmma) == cudaSuccess &&
                       cudaFuncGetAttributes(&combine, moe_combine) == cudaSuccess;
  cudaSetDevice(current);
  if (!queried) {
    cudaGetLastError();  // a device without an image (or without CUDA) is an answer here, not an error for later checks
    return kKnown;
  }
  // ptxVersion is the virtual architecture the loaded code was compiled from, whether SASS or PTX compiled at load.
  return static_cast<int8_t>(kKnown | (wgmma.sharedSizeBytes > 0 ? kWgmma : 0) | (combine.ptxVersion >= 90 ? kPdl : 0));
}

}  // namespace

LoadedImage loaded_image(int device) {
  static std::atomic<int8_t> cached[kCachedDevices] = {};
  int8_t facts = device >= 0 && device < kCachedDevices ? cached[device].load() : 0;
  if (facts == 0) {
    facts = query(device);
    if (device >= 0 && device < kCachedDevices) cached[device].store(facts);
  }
  return LoadedImage{(facts & kWgmma) != 0, (facts & kPdl) != 0};
}

}  // namespace b12x
