#include "moe_combine.cuh"

#include "../common/pdl.cuh"

namespace b12x {

__global__ void __launch_bounds__(kCombineThreads) moe_combine(MoeParams p) {
  const int32_t t = blockIdx.x;
  // Non-finite check of the whole x row (every CTA of the token repeats it; the row is small and cached).
  __shared__ int any_nonfinite;
  if (threadIdx.x == 0) any_nonfinite = 0;
  __syncthreads();
  const __nv_bfloat16* xrow = p.x + static_cast<int64_t>(t) * p.hidden;
  bool local_nonfinite = false;
  // 8 values per 16-byte load (H % 16 == 0, x 16-byte aligned): one load per thread for H <= 2048.
  for (int32_t h = 8 * threadIdx.x; h < p.hidden; h += 8 * blockDim.x) {
    const uint4 v = *reinterpret_cast<const uint4*>(xrow + h);
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {  // exponent all ones in either half: Inf or NaN
      local_nonfinite |= (words[j] & 0x7F80u) == 0x7F80u || (words[j] & 0x7F800000u) == 0x7F800000u;
    }
  }
  if (local_nonfinite) any_nonfinite = 1;
  __syncthreads();
  pdl_wait();  // x is the caller's; y comes from the kernel before (launched with programmatic serialization in decode)

  const int32_t h0 = (blockIdx.y * blockDim.x + threadIdx.x) * kCombineColumnsPerThread;
  if (h0 >= p.hidden) return;
  float sum[kCombineColumnsPerThread] = {0.0f, 0.0f, 0.0f, 0.0f};
  bool any_valid = false;
  // kCombineRoutesInFlight routes at a time: all their id and row loads are issued before the ordered adds.
  for (int32_t k0 = 0; k0 < p.top_k; k0 += kCombineRoutesInFlight) {
    bool valid[kCombineRoutesInFlight];
    float4 v[kCombineRoutesInFlight];
#pragma unroll
    for (int j = 0; j < kCombineRoutesInFlight; ++j) {
      const int32_t k = k0 + j, pair = t * p.top_k + k;
      valid[j] = k < p.top_k && p.local_expert_of(pair) >= 0;
    }
#pragma unroll
    for (int j = 0; j < kCombineRoutesInFlight; ++j) {
      const int32_t pair = t * p.top_k + k0 + j;
      v[j] = valid[j] ? *reinterpret_cast<const float4*>(p.y + static_cast<int64_t>(pair) * p.hidden + h0)
                      : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
#pragma unroll
    for (int j = 0; j < kCombineRoutesInFlight; ++j) {  // ascending k, skipped routes add nothing
      if (!valid[j]) continue;
      any_valid = true;
      sum[0] = __fadd_rn(sum[0], v[j].x);
      sum[1] = __fadd_rn(sum[1], v[j].y);
      sum[2] = __fadd_rn(sum[2], v[j].z);
      sum[3] = __fadd_rn(sum[3], v[j].w);
    }
  }
  const bool nan_row = any_valid && any_nonfinite;
  __nv_bfloat16* orow = p.out + static_cast<int64_t>(t) * p.hidden + h0;
  __nv_bfloat162 lo, hi;
  lo.x = nan_row ? __ushort_as_bfloat16(0x7FC0u) : __float2bfloat16_rn(sum[0]);
  lo.y = nan_row ? __ushort_as_bfloat16(0x7FC0u) : __float2bfloat16_rn(sum[1]);
  hi.x = nan_row ? __ushort_as_bfloat16(0x7FC0u) : __float2bfloat16_rn(sum[2]);
  hi.y = nan_row ? __ushort_as_bfloat16(0x7FC0u) : __float2bfloat16_rn(sum[3]);
  // H is a multiple of 16, so a thread's four columns are all in range and 8-byte aligned.
  *reinterpret_cast<uint2*>(orow) = make_uint2(*reinterpret_cast<uint32_t*>(&lo), *reinterpret_cast<uint32_t*>(&hi));
}

cudaError_t launch_moe_combine(const MoeParams& p, bool pdl, cudaStream_t stream) {
  constexpr int kColumnsPerCta = kCombineThreads * kCombineColumnsPerThread;
  const dim3 grid(static_cast<unsigned>(p.tokens),
                  static_cast<unsigned>((p.hidden + kColumnsPerCta - 1) / kColumnsPerCta));
  return launch_kernel(moe_combine, grid, dim3(kCombineThreads), 0, stream, pdl, p);
}

}  // namespace b12x
