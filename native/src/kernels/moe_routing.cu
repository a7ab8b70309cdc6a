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

namespace {

// Slot offsets and token tiles of every expert from its pair count (one CTA): offsets and tile_prefix are exclusive
// prefix sums over the experts, with the totals at index L; the scatter cursors and the work queues are reset.
__device__ __forceinline__ void plan_experts(const MoeParams& p, const int32_t* counts, int32_t* cursor) {
  int32_t slot_base = 0, tile_base = 0;
  for (int32_t first = 0; first < p.local_experts; first += kRoutePlanThreads) {
    int32_t l = first + threadIdx.x;
    int32_t count = l < p.local_experts ? counts[l] : 0;
    int32_t slots = count, tiles = (count + p.token_tile - 1) / p.token_tile;
    int32_t total_slots, total_tiles;
    block_exclusive_scan2(slots, tiles, total_slots, total_tiles);
    if (l < p.local_experts) {
      p.offsets[l] = slot_base + slots;
      p.tile_prefix[l] = tile_base + tiles;
      cursor[l] = 0;
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

// Gives the pair a slot of its expert (its rank in atomic order). The slot that starts a token tile also writes the
// tile's map entry, so a GEMM CTA finds its expert and slots with one load.
__device__ __forceinline__ void scatter_pair(const MoeParams& p, int32_t pair, int32_t* cursor) {
  const int32_t l = p.local_expert_of(pair);
  if (l < 0) {
    p.pair_slot[pair] = -1;
    return;
  }
  const int32_t rank = atomicAdd(&cursor[l], 1), slot = p.offsets[l] + rank;
  p.slot_pair[slot] = pair;
  p.slot_expert[slot] = l;
  p.pair_slot[pair] = slot;
  if (rank % p.token_tile == 0) {
    p.tile_map[p.tile_prefix[l] + rank / p.token_tile] = make_int4(l, slot, min(p.token_tile, p.offsets[l + 1] - slot), 0);
  }
}

}  // namespace

__global__ void __launch_bounds__(kRoutePlanThreads) moe_route_plan(MoeParams p) { plan_experts(p, p.counts, p.cursor); }

__global__ void moe_route_scatter(MoeParams p) {
  int32_t pairs = p.pairs();
  for (int32_t pair = blockIdx.x * blockDim.x + threadIdx.x; pair < pairs; pair += gridDim.x * blockDim.x) {
    scatter_pair(p, pair, p.cursor);
  }
}

__global__ void __launch_bounds__(kRoutePlanThreads) moe_route_small(MoeParams p) {
  extern __shared__ int32_t expert_words[];  // [L] counts, then [L] cursors
  int32_t* counts = expert_words;
  int32_t* cursor = expert_words + p.local_experts;
  const int32_t pairs = p.pairs();
  for (int32_t l = threadIdx.x; l < p.local_experts; l += blockDim.x) counts[l] = 0;
  __syncthreads();
  for (int32_t pair = threadIdx.x; pair < pairs; pair += blockDim.x) {
    const int32_t l = p.local_expert_of(pair);
    if (l >= 0) atomicAdd(&counts[l], 1);
  }
  __syncthreads();
  plan_experts(p, counts, cursor);
  __syncthreads();  // offsets, tile_prefix and the cursors are read by every thread below
  for (int32_t pair = threadIdx.x; pair < pairs; pair += blockDim.x) scatter_pair(p, pair, cursor);
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
