// Routing: groups the T*K routed pairs by local expert into an expert-major list of slots.
//   1. moe_route_count   : routed pairs per local expert (invalid and non-local ids dropped).
//   2. moe_route_plan    : one CTA; exclusive prefix sums of the counts (slot offsets) and of the token tiles
//                          ceil(count / token_tile) (work-item numbering); resets the scatter cursors and queues.
//   3. moe_route_scatter : each valid pair claims a slot of its expert; a tile's first slot writes its tile_map entry.
// moe_route_small does all three in one CTA, counting in shared memory, for calls of up to kRouteSmallMaxPairs pairs
// (every decode-sized static call): one launch instead of a memset and three.
// The order of pairs inside an expert depends on atomics, but no result does: every slot's row is computed on its
// own (no reduction across slots), FC2 rows are stored by pair index, and the combine reads them in k order.
#pragma once
#include "../dispatch/moe_params.h"

namespace b12x {

constexpr int kRoutePlanThreads = 1024;  // one CTA scans all experts, 1024 at a time
// moe_route_small's bounds: its CTA loops over the pairs (4 per thread at this bound), where each of the three
// kernels' launches costs about 2 us of a decode call on an H200; and its [L] counts and cursors fit the 48 KB of
// shared memory a kernel gets without opt-in.
constexpr int kRouteSmallMaxPairs = 4 * kRoutePlanThreads;
constexpr int kRouteSmallMaxExperts = 4096;
static_assert(2 * kRouteSmallMaxExperts * 4 <= 48 * 1024, "moe_route_small's counts and cursors fit without opt-in");

__global__ void moe_route_count(MoeParams p);
__global__ void __launch_bounds__(kRoutePlanThreads) moe_route_plan(MoeParams p);
__global__ void moe_route_scatter(MoeParams p);
// Steps 1-3 in one CTA of kRoutePlanThreads threads with 2 * L * 4 bytes of dynamic shared memory; needs no zeroed
// counters.
__global__ void __launch_bounds__(kRoutePlanThreads) moe_route_small(MoeParams p);

// Diagnostics: codes[pair] = the FC2-input codes of the valid pair, read from the slot that holds it, or from row
// pair itself when the aq plane is indexed by pair (micro strategy).
__global__ void moe_export_intermediate_codes(MoeParams p, uint8_t* codes, bool by_pair);

}  // namespace b12x
