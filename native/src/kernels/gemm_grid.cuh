// Grid sizes of the grouped FC1/FC2 GEMMs, shared by their launchers (moe_gemm_kernels.cu, moe_gemm_tiled.cu,
// moe_gemm_wgmma.cu): the static strategy launches one CTA per work item, the dynamic one a persistent grid whose CTAs
// claim work items from a queue.
#pragma once
#include <cuda_runtime.h>
#include <algorithm>
#include <cstdint>
#include "../dispatch/moe_params.h"
#include "../dispatch/kernel_facts.h"

namespace b12x {

// An upper bound of the token tiles of `token_tile` slots the routing can make: P / token_tile rounded up, plus one
// partial tile per expert.
__host__ __device__ inline int64_t token_tiles_bound(const MoeParams& p, int32_t token_tile) {
  const int64_t pairs = static_cast<int64_t>(p.tokens) * p.top_k;
  return (pairs + token_tile - 1) / token_tile + (p.local_experts < pairs ? p.local_experts : pairs);
}

// Work items of one GEMM for token tiles of `token_tile` slots and `rows` of the n_rows output rows per item: the
// token tiles' bound times the row tiles. Items past the routing's real tiles find no work and end.
inline int64_t gemm_work_items(const MoeParams& p, int32_t token_tile, int32_t rows, int32_t n_rows) {
  return token_tiles_bound(p, token_tile) * ((n_rows + rows - 1) / rows);
}

// The work item a GEMM CTA takes in round `round`, the same in every thread: on a persistent grid the next one of
// the GEMM's queue (`queue`: 0 for FC1, 1 for FC2, reset by the routing), else the CTA's own (one CTA per item:
// blockIdx.x in round 0, -1 after). `claimed` is the caller's shared word. On a persistent grid its first barrier
// also orders the previous item's shared-memory reads before the next item's writes.
__device__ __forceinline__ int32_t gemm_work_item(const MoeParams& p, bool persistent, int32_t queue, int32_t round,
                                                  int32_t& claimed) {
  if (!persistent) return round == 0 ? static_cast<int32_t>(blockIdx.x) : -1;
  __syncthreads();
  if (threadIdx.x == 0) claimed = atomicAdd(&p.queue_heads[queue], 1);
  __syncthreads();
  return claimed;
}

// CTAs of a persistent grid over `items` work items: as many as are resident on the device at once (at least one per
// SM), and no more than there are items.
template <typename Kernel>
cudaError_t persistent_grid(Kernel kernel, int threads, size_t shared_bytes, int32_t sms, int64_t items,
                            int64_t* grid) {
  int per_sm = 0;
  const cudaError_t e = resident_ctas_per_sm(reinterpret_cast<const void*>(kernel), threads, shared_bytes, &per_sm);
  *grid = std::min<int64_t>(items, static_cast<int64_t>(sms) * std::max(per_sm, 1));
  return e;
}

}  // namespace b12x
