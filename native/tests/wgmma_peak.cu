// Tensor-pipe ceiling of the wgmma kernels' MMA pattern (kernels/moe_gemm_wgmma.cu) measured alone: one CTA per SM
// of four warpgroups, each issuing per step four m64n128k16 fp16 wgmmas with A from registers (double buffered,
// wait_group 1, B from a 128-byte-swizzled shared tile), plus kAlu rounds of independent ALU work per step on the free
// A buffer (a round: 16 registers x about 5 instructions, shifts, masks and a byte permute, as a dequantisation's
// are). No copies, barriers or epilogue: it shows how many instructions per step the pattern hides behind its
// wgmmas (benchmarks.md, "Prefill (wgmma), where a step's time goes").
//
// On an sm_90a GPU, from the repository root:
//   nvcc -std=c++17 --expt-relaxed-constexpr -Inative/src -arch=sm_90a -O3 native/tests/wgmma_peak.cu -o /tmp/peak
//   /tmp/peak
#include <cstdio>
#include <cuda_runtime.h>
#include "common/wgmma.cuh"
using namespace b12x;

template <int kAlu, int P>
__device__ __forceinline__ void body(uint32_t tokens, uint32_t (&a)[2][4][4], float (&acc)[64], uint32_t seed) {
  wgmma_fence();
#pragma unroll
  for (int s = 0; s < 4; ++s) wgmma_f16_rs<128>(acc, a[P][s], wgmma_descriptor_sw128(tokens, s));
  wgmma_commit();
  wgmma_wait<1>();
#pragma unroll
  for (int k = 0; k < kAlu; ++k)
#pragma unroll
    for (int s = 0; s < 4; ++s)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        uint32_t x = a[1 - P][s][r];
        x = ((x << 1) & 0x80808080u) | ((x >> 3) & 0x0E0E0E0Eu);
        a[1 - P][s][r] = __byte_perm(x, seed, 0x2404);
      }
}

template <int kAlu>
__global__ void __launch_bounds__(512, 1) peak(int iters, float* out, uint32_t seed) {
  __shared__ __align__(1024) unsigned char b[128 * 128];  // B: 128 tokens x one 64-element K step, fp16
  for (int i = threadIdx.x; i < 128 * 128 / 4; i += 512) reinterpret_cast<uint32_t*>(b)[i] = 0;
  fence_proxy_async_shared();
  __syncthreads();
  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = 0.0f;
  uint32_t a[2][4][4];
#pragma unroll
  for (int p = 0; p < 2; ++p)
#pragma unroll
    for (int s = 0; s < 4; ++s)
#pragma unroll
      for (int r = 0; r < 4; ++r) a[p][s][r] = seed * (threadIdx.x + 1) + s * 7 + r;
  const uint32_t tokens = shared_address(b);
  for (int it = 0; it < iters; it += 2) {
    body<kAlu, 0>(tokens, a, acc, seed);
    body<kAlu, 1>(tokens, a, acc, seed);
  }
  wgmma_wait<0>();
  wgmma_pin(acc);
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < 64; ++i) sum += acc[i];
  uint32_t x = 0;
#pragma unroll
  for (int s = 0; s < 4; ++s) x ^= a[0][s][0] ^ a[1][s][3];
  // Keeps the results live; never true for these inputs, so nothing is stored.
  if (sum == 1.2345f || x == 0x12345u) out[blockIdx.x * 512 + threadIdx.x] = sum + x;
}

template <int kAlu>
void run(int sms, float* out) {
  const int iters = 20000;  // about 11 ms at the peak: long enough for event timing
  peak<kAlu><<<sms, 512>>>(100, out, 3u);  // warm-up
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  cudaEventRecord(e0);
  peak<kAlu><<<sms, 512>>>(iters, out, 3u);
  cudaEventRecord(e1);
  cudaEventSynchronize(e1);
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  const double flops = 2.0 * 64 * 128 * 16 * 4 * 4 * double(iters) * sms;
  printf("alu rounds %d (%d ALU instr per thread and step): %.3f ms, %.0f TFLOP/s, err=%s\n", kAlu, kAlu * 16 * 5, ms,
         flops / ms / 1e9, cudaGetErrorString(cudaGetLastError()));
}

int main() {
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  printf("%s, %d SMs\n", prop.name, prop.multiProcessorCount);
  float* out;
  cudaMalloc(&out, 1 << 24);
  run<0>(prop.multiProcessorCount, out);
  run<1>(prop.multiProcessorCount, out);
  run<2>(prop.multiProcessorCount, out);
  run<3>(prop.multiProcessorCount, out);
  run<4>(prop.multiProcessorCount, out);
  return 0;
}
