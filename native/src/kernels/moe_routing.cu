#include "moe_routing.cuh"

namespace b12x {

__global__ void moe_route_count(MoeParams p) {
  int32_t pairs = p.pairs();
  for (int32_t pair = blockIdx.x * blockDim.x + threadIdx.x; pair < pairs; pair += gridDim.x * blockDim.x) {
    int32_t l = p.local_expert_of(pair);
    if (l >= 0) atomicAdd(&p.counts[l], 1);
  }
}

// Block-wide exclusive scan of two values at once; returns the block totals through the out-parameters.
__device__ __forceinline__ void block_exclusive_scan2(int32_t& a, int32_t& b, int32_t& total_a, int32_t& total_b) {
  __shared__ int32_t warp_a[kRoutePlanThreads / 32], warp_b[kRoutePlanThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int32_t ia = a, ib = b;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    int32_t na = __shfl_up_sync(0xFFFFFFFFu, ia, d), nb = __shfl_up_sync(0xFFFFFFFFu, ib, d);
    if (lane >= d) { ia += na; ib += nb; }
  }
  if (lane == 31) { warp_a[warp] = ia; warp_b[warp] = ib; }
  __syncthreads();
  if (warp == 0) {
    int32_t wa = lane < kRoutePlanThreads / 32 ? warp_a[lane] : 0, wb = lane < kRoutePlanThreads / 32 ? warp_b[lane] : 0;
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
      int32_t na = __shfl_up_sync(0xFFFFFFFFu, wa, d), nb = __shfl_up_sync(0xFFFFFFFFu, wb, d);
      if (lane >= d) { wa += na; wb += nb; }
    }
    if (lane < kRoutePlanThreads / 32) { warp_a[lane] = wa; warp_b[lane] = wb; }
  }
  __syncthreads();
  int32_t before_a = warp > 0 ? warp_a[warp - 1] : 0, before_b = warp > 0 ? warp_b[warp - 1] : 0;
  total_a = warp_a[kRoutePlanThreads / 32 - 1];
  total_b = warp_b[kRoutePlanThreads / 32 - 1];
  a = before_a + ia - a;
  b = before_b + ib - b;
  __syncthreads();  // the shared totals are reused by the next call
}

__global__ void __launch_bounds__(kRoutePlanThreads) moe_route_plan(MoeParams p) {
  int32_t slot_base = 0, tile_base = 0;
  for (int32_t first = 0; first < p.local_experts; first += kRoutePlanThreads) {
    int32_t l = first + threadIdx.x;
    int32_t count = l < p.local_experts ? p.counts[l] : 0;
    int32_t slots = count, tiles = (count + p.token_tile - 1) / p.token_tile;
    int32_t total_slots, total_tiles;
    block_exclusive_scan2(slots, tiles, total_slots, total_tiles);
    if (l < p.local_experts) {
      p.offsets[l] = slot_base + slots;
      p.tile_prefix[l] = tile_base + tiles;
      p.cursor[l] = 0;
    }
    slot_base += total_slots;
    tile_base += total_tiles;
  }
  if (threadIdx.x == 0) {
    p.offsets[p.local_experts] = slot_base;
    p.tile_prefix[p.local_experts] = tile_base;
    p.queue_heads[0] = 0;
    p.queue_heads[1] = 0;
  }
}

__global__ void moe_route_scatter(MoeParams p) {
  int32_t pairs = p.pairs();
  for (int32_t pair = blockIdx.x * blockDim.x + threadIdx.x; pair < pairs; pair += gridDim.x * blockDim.x) {
    int32_t l = p.local_expert_of(pair);
    if (l < 0) {
      p.pair_slot[pair] = -1;
      continue;
    }
    int32_t slot = p.offsets[l] + atomicAdd(&p.cursor[l], 1);
    p.slot_pair[slot] = pair;
    p.slot_expert[slot] = l;
    p.pair_slot[pair] = slot;
  }
}

__global__ void moe_export_intermediate_codes(MoeParams p, uint8_t* codes, bool by_pair) {
  const int64_t row_bytes = p.intermediate / 2;
  const int64_t rows = by_pair ? static_cast<int64_t>(p.pairs()) : static_cast<int64_t>(p.offsets[p.local_experts]);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < rows * row_bytes;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / row_bytes, byte = i % row_bytes;
    if (by_pair && p.local_expert_of(static_cast<int32_t>(row)) < 0) continue;
    const int64_t pair = by_pair ? row : p.slot_pair[row];
    codes[pair * row_bytes + byte] = p.aq_codes[row * row_bytes + byte];
  }
}

}  // namespace b12x
