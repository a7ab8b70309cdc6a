#include "moe_launcher.h"

#include <algorithm>
#include "../common/alignment.h"
#include "../common/cuda_check.h"
#include "../common/fault_injection.h"
#include "../common/pdl.cuh"
#include "../common/tile_shapes.h"
#include "../kernels/moe_combine.cuh"
#include "../kernels/moe_gemm_kernels.cuh"
#include "../kernels/moe_gemm_tiled.cuh"
#include "../kernels/moe_gemm_wgmma.cuh"
#include "../kernels/moe_micro.cuh"
#include "../kernels/moe_micro_nvfp4.cuh"
#include "../kernels/moe_narrow_nvfp4.cuh"
#include "../kernels/moe_reference.cuh"
#include "../kernels/moe_routing.cuh"
#include "../kernels/quantize_nvfp4.cuh"
#include "kernel_facts.h"
#include "loaded_image.h"
#include "moe_params.h"

namespace b12x {
namespace {

constexpr int kElementwiseThreads = 256;
constexpr int kElementwiseBlocksPerSm = 8;  // grid-stride kernels: enough CTAs to fill any SM count, no more

int32_t token_tile_of(int32_t strategy) {
  switch (strategy) {
    case B12X_STRATEGY_MICRO: return kMicroTokenTile;
    case B12X_STRATEGY_STATIC: return kStaticTokenTile;
    case B12X_STRATEGY_DYNAMIC: return kDynamicTokenTile;
    default: return 1;  // reference: one slot per CTA
  }
}

ExpertScalar scalar_of(const b12x_expert_scalars_t& s) { return ExpertScalar{s.values, s.stride, s.base}; }

// The static strategy's token tile when the narrow NVFP4 kernels take the call (moe_narrow_nvfp4.cuh), else 0.
int32_t narrow_tile_of(const b12x_moe_problem_t& q, int32_t strategy) {
  if (strategy != B12X_STRATEGY_STATIC) return 0;
  return narrow_token_tile(q.quant_mode == B12X_QUANT_MODE_NVFP4, q.hidden, q.intermediate,
                           static_cast<int64_t>(q.num_tokens) * q.top_k, q.num_local_experts);
}

// sm_90a images run the NVFP4 GEMMs (swizzled scales) on warpgroup MMA, whose tiles hold kWgmmaTokenTile tokens and
// whose token operands are exact fp16 planes of the workspace: every dynamic call, and the static calls the narrow
// kernels do not take, where the tiled kernels lose to them (H200, native us: mixtral-8x7b T=96 791 against 691,
// T=256 1764 against 798).
// Their bulk copies need rows of codes a multiple of 16 bytes apart (K % 32 == 0) and 16-byte aligned weights and
// scales (the validation asks for 8); other layers take the tiled kernels.
bool uses_wgmma(const b12x_moe_problem_t& q, int32_t strategy) {
  const bool strategy_takes_it = strategy == B12X_STRATEGY_DYNAMIC ||
                                 (strategy == B12X_STRATEGY_STATIC && narrow_tile_of(q, strategy) == 0);
  const bool copyable = q.hidden % 32 == 0 && q.intermediate % 32 == 0 && aligned(q.w1, 16) && aligned(q.w2, 16) &&
                        aligned(q.w1_scales, 16) && aligned(q.w2_scales, 16);
  return q.num_tokens > 0 && strategy_takes_it && q.quant_mode == B12X_QUANT_MODE_NVFP4 &&
         q.scale_layout == B12X_SCALE_LAYOUT_SWIZZLED_128X4 && copyable && loaded_image(q.device).wgmma;
}

// The operand planes of the kernels that run the call: the wgmma kernels' token planes; exact fp16 rows for the
// micro NVFP4 kernels (by pair, in block order) and the 8-token narrow kernels (by slot, narrow_operand.cuh); or else
// the codes the other kernels read.
OperandPlanes operand_planes_of(const b12x_moe_problem_t& q, int32_t strategy) {
  if (uses_wgmma(q, strategy)) return OperandPlanes::kWgmma;
  const bool micro_fp16 = strategy == B12X_STRATEGY_MICRO &&
                          micro_block_sums_apply(q.quant_mode == B12X_QUANT_MODE_NVFP4, q.hidden, q.intermediate);
  return micro_fp16 || narrow_tile_of(q, strategy) == kNarrowFp16TokenTile ? OperandPlanes::kFp16Rows
                                                                           : OperandPlanes::kCodes;
}

WorkspaceLayout layout_of(const b12x_moe_problem_t& q, OperandPlanes planes) {
  return make_workspace_layout(q.num_tokens, q.top_k, q.hidden, q.intermediate, q.num_local_experts,
                               q.quant_mode == B12X_QUANT_MODE_NVFP4, planes);
}

MoeParams params_of(const b12x_moe_problem_t& q, int32_t strategy, void* workspace) {
  MoeParams p{};
  p.tokens = q.num_tokens;
  p.hidden = q.hidden;
  p.intermediate = q.intermediate;
  p.num_experts = q.num_experts;
  p.local_experts = q.num_local_experts;
  p.local_offset = q.local_expert_offset;
  p.top_k = q.top_k;
  p.gated = q.activation == B12X_ACTIVATION_SILU;
  p.w1_rows = p.gated ? 2 * q.intermediate : q.intermediate;
  p.nvfp4 = q.quant_mode == B12X_QUANT_MODE_NVFP4;
  p.reciprocal_alphas = q.reciprocal_alphas != 0;
  p.ids_int64 = q.index_type == B12X_INDEX_INT64;
  p.x = static_cast<const __nv_bfloat16*>(q.x);
  p.w1 = q.w1;
  p.w1_scales = q.w1_scales;
  p.w2 = q.w2;
  p.w2_scales = q.w2_scales;
  const bool swizzled = q.scale_layout == B12X_SCALE_LAYOUT_SWIZZLED_128X4;
  p.w1_sa = ScaleAddressing::make(swizzled, p.w1_rows, q.hidden);
  p.w2_sa = ScaleAddressing::make(swizzled, q.hidden, q.intermediate);
  p.ids = q.expert_ids;
  p.routing_weights = q.routing_weights;
  p.w1_alpha = scalar_of(q.w1_alpha);
  p.w2_alpha = scalar_of(q.w2_alpha);
  p.gs2 = scalar_of(q.fc2_input_scale);
  p.gs1 = scalar_of(q.input_global_scale);
  p.out = static_cast<__nv_bfloat16*>(q.output);
  const OperandPlanes planes = operand_planes_of(q, strategy);
  const WorkspaceLayout w = layout_of(q, planes);
  char* base = static_cast<char*>(workspace);
  p.counts = reinterpret_cast<int32_t*>(base + w.counts);
  p.cursor = reinterpret_cast<int32_t*>(base + w.cursor);
  p.offsets = reinterpret_cast<int32_t*>(base + w.offsets);
  p.tile_prefix = reinterpret_cast<int32_t*>(base + w.tile_prefix);
  p.queue_heads = reinterpret_cast<int32_t*>(base + w.queue_heads);
  p.slot_pair = reinterpret_cast<int32_t*>(base + w.slot_pair);
  p.slot_expert = reinterpret_cast<int32_t*>(base + w.slot_expert);
  p.pair_slot = reinterpret_cast<int32_t*>(base + w.pair_slot);
  p.tile_map = reinterpret_cast<int4*>(base + w.tile_map);
  p.xq_codes = reinterpret_cast<uint8_t*>(base + w.xq_codes);
  p.xq_scales = reinterpret_cast<uint8_t*>(base + w.xq_scales);
  p.aq_codes = reinterpret_cast<uint8_t*>(base + w.aq_codes);
  p.aq_scales = reinterpret_cast<uint8_t*>(base + w.aq_scales);
  p.a_bf16 = reinterpret_cast<__nv_bfloat16*>(base + w.a_bf16);
  const bool fp16_rows = planes == OperandPlanes::kFp16Rows, wgmma = planes == OperandPlanes::kWgmma;
  p.x_fp16 = fp16_rows ? reinterpret_cast<uint32_t*>(base + w.x_fp16) : nullptr;
  p.a_fp16 = fp16_rows ? reinterpret_cast<uint32_t*>(base + w.a_fp16) : nullptr;
  p.x_hat = wgmma ? reinterpret_cast<__half*>(base + w.x_hat) : nullptr;
  p.a_hat = wgmma ? reinterpret_cast<__half*>(base + w.a_hat) : nullptr;
  p.y = reinterpret_cast<float*>(base + w.y);
  const int32_t narrow = narrow_tile_of(q, strategy);
  p.narrow = narrow > 0;
  p.token_tile = wgmma ? kWgmmaTokenTile : narrow > 0 ? narrow : token_tile_of(strategy);
  return p;
}

int grid_for(int64_t work, int threads, int sms) {
  int64_t blocks = (work + threads - 1) / threads;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(blocks, static_cast<int64_t>(sms) * kElementwiseBlocksPerSm)));
}

b12x_status_t launch_gemms(const MoeParams& p, bool persistent, bool pdl, int sms, cudaStream_t stream, char* message,
                           size_t message_capacity) {
  const char* step = "GEMM launch";
  // Tiled kernels need swizzled scales (aligned 4-block words); linear scales take the register-streaming kernels.
  // The wgmma kernels run where params_of gave them their token planes (uses_wgmma), the narrow ones where it chose
  // them (narrow_tile_of).
  const bool tiled = p.w1_sa.swizzled;
  B12X_CUDA_TRY(p.x_hat != nullptr ? launch_moe_gemms_wgmma(p, persistent, sms, stream, &step)
                : p.narrow         ? launch_moe_narrow_nvfp4(p, pdl, sms, stream, &step)
                : tiled            ? launch_moe_gemms_tiled(p, p.token_tile, persistent, sms, stream, &step)
                                   : launch_moe_gemms(p, p.token_tile, persistent, sms, stream, &step),
                step);
  return B12X_STATUS_SUCCESS;
}

b12x_status_t launch_reference(const MoeParams& p, cudaStream_t stream, char* message, size_t message_capacity) {
  const size_t fc1_smem = static_cast<size_t>(p.hidden + p.intermediate) * sizeof(float);
  const size_t fc2_smem = static_cast<size_t>(p.intermediate) * sizeof(float);
  B12X_CUDA_TRY(allow_dynamic_shared(reinterpret_cast<const void*>(moe_reference_fc1), fc1_smem),
                "reference FC1 shared-memory opt-in");
  B12X_CUDA_TRY(allow_dynamic_shared(reinterpret_cast<const void*>(moe_reference_fc2), fc2_smem),
                "reference FC2 shared-memory opt-in");
  const unsigned slots = static_cast<unsigned>(static_cast<int64_t>(p.tokens) * p.top_k);
  moe_reference_fc1<<<slots, kReferenceThreads, fc1_smem, stream>>>(p);
  B12X_CUDA_TRY(cudaGetLastError(), "reference FC1 launch");
  moe_reference_fc2<<<slots, kReferenceThreads, fc2_smem, stream>>>(p);
  B12X_CUDA_TRY(cudaGetLastError(), "reference FC2 launch");
  return B12X_STATUS_SUCCESS;
}

}  // namespace

b12x_status_t launch_intermediate_export(const b12x_moe_problem_t& q, const void* workspace, uint8_t* codes,
                                         cudaStream_t stream, char* message, size_t message_capacity) {
  if (q.num_tokens == 0) return B12X_STATUS_SUCCESS;
  const MoeParams p = params_of(q, resolve_strategy(q), const_cast<void*>(workspace));
  int sms = 0;
  B12X_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, q.device), "multiprocessor count query");
  const int64_t bytes = static_cast<int64_t>(q.num_tokens) * q.top_k * (q.intermediate / 2);
  const bool by_pair = resolve_strategy(q) == B12X_STRATEGY_MICRO;  // micro keeps its rows by pair, not by slot
  moe_export_intermediate_codes<<<grid_for(bytes, kElementwiseThreads, sms), kElementwiseThreads, 0, stream>>>(p, codes, by_pair);
  B12X_CUDA_TRY(cudaGetLastError(), "intermediate export launch");
  return B12X_STATUS_SUCCESS;
}

const void* probe_kernel() { return reinterpret_cast<const void*>(&moe_route_count); }

int32_t resolve_strategy(const b12x_moe_problem_t& q) {
  if (q.strategy != B12X_STRATEGY_AUTO) return q.strategy;
  const int64_t pairs = static_cast<int64_t>(q.num_tokens) * q.top_k;
  if (q.num_tokens <= q.micro_max_tokens && pairs <= q.micro_max_pairs) return B12X_STRATEGY_MICRO;
  return pairs <= q.static_max_pairs ? B12X_STRATEGY_STATIC : B12X_STRATEGY_DYNAMIC;
}

WorkspaceLayout workspace_for(const b12x_moe_problem_t& q) {
  return layout_of(q, operand_planes_of(q, resolve_strategy(q)));
}

b12x_status_t check_kernel_limits(const b12x_moe_problem_t& q, int32_t strategy, char* message,
                                  size_t message_capacity) {
  size_t needed = 0;
  const char* what = nullptr;
  if (strategy == B12X_STRATEGY_MICRO) {
    B12X_CUDA_TRY(micro_shared_bytes(q.hidden, q.intermediate, q.activation == B12X_ACTIVATION_SILU,
                                     q.quant_mode == B12X_QUANT_MODE_NVFP4, &needed),
                  "micro kernel attribute query");
    what = "the micro strategy stages one row of H or I 16-bit values per block";
  } else if (strategy == B12X_STRATEGY_REFERENCE) {
    needed = static_cast<size_t>(q.hidden + q.intermediate) * sizeof(float);
    what = "the reference kernels stage H + I float values per block";
  } else {
    return B12X_STATUS_SUCCESS;  // the tiled and register-streaming kernels use a fixed 48 KB or less
  }
  int limit = 0;
  B12X_CUDA_TRY(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, q.device), "shared-memory limit query");
  if (needed > static_cast<size_t>(limit)) {
    write_message(message, message_capacity,
                  "H = %d, I = %d: %s, %zu bytes of shared memory, and device %d allows %d; use the static or dynamic "
                  "strategy or the CPU backend",
                  q.hidden, q.intermediate, what, needed, q.device, limit);
    return B12X_STATUS_UNSUPPORTED;
  }
  return B12X_STATUS_SUCCESS;
}

b12x_status_t launch_moe(const b12x_moe_problem_t& q, int32_t strategy, void* workspace, cudaStream_t stream,
                         char* message, size_t message_capacity) {
  if (q.num_tokens == 0) return B12X_STATUS_SUCCESS;
  const b12x_status_t injected = inject_armed_fault(stream, message, message_capacity);
  if (injected != B12X_STATUS_SUCCESS) return injected;
  const MoeParams p = params_of(q, strategy, workspace);
  int sms = 0;
  B12X_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, q.device), "multiprocessor count query");
  const int64_t pairs = static_cast<int64_t>(q.num_tokens) * q.top_k;
  const bool pdl = loaded_image(q.device).pdl;  // programmatic dependent launch where the kernels chain it (pdl.cuh)
  if (strategy == B12X_STRATEGY_MICRO) {  // no routing pass: rows are indexed by pair
    const char* step = "micro launch";
    B12X_CUDA_TRY(launch_moe_micro(p, pdl, sms, stream, &step), step);
    B12X_CUDA_TRY(launch_moe_combine(p, pdl, stream), "combine launch");
    return B12X_STATUS_SUCCESS;
  }

  if (pairs <= kRouteSmallMaxPairs && q.num_local_experts <= kRouteSmallMaxExperts) {
    moe_route_small<<<1, kRoutePlanThreads, 2 * sizeof(int32_t) * q.num_local_experts, stream>>>(p);
    B12X_CUDA_TRY(cudaGetLastError(), "routing launch");
  } else {
    B12X_CUDA_TRY(cudaMemsetAsync(p.counts, 0, sizeof(int32_t) * q.num_local_experts, stream), "routing counter reset");
    moe_route_count<<<grid_for(pairs, kElementwiseThreads, sms), kElementwiseThreads, 0, stream>>>(p);
    B12X_CUDA_TRY(cudaGetLastError(), "routing count launch");
    moe_route_plan<<<1, kRoutePlanThreads, 0, stream>>>(p);
    B12X_CUDA_TRY(cudaGetLastError(), "routing plan launch");
    moe_route_scatter<<<grid_for(pairs, kElementwiseThreads, sms), kElementwiseThreads, 0, stream>>>(p);
    B12X_CUDA_TRY(cudaGetLastError(), "routing scatter launch");
  }
  // The tiled kernels copy the activation scales 4 blocks at a time, so a row's padding bytes (C/16 not a multiple
  // of 4) are read (and ignored); zero them so no byte is read uninitialised.
  const bool tiled = p.w1_sa.swizzled;
  if (p.nvfp4 && tiled && p.x_hat == nullptr && (q.hidden / 16) % 4 != 0) {  // no xq planes beside x_hat
    B12X_CUDA_TRY(cudaMemsetAsync(p.xq_scales, 0, static_cast<size_t>(pairs) * scale_row_pitch(q.hidden), stream),
                  "activation-scale padding reset");
  }
  if (p.nvfp4 && tiled && (q.intermediate / 16) % 4 != 0) {
    B12X_CUDA_TRY(cudaMemsetAsync(p.aq_scales, 0, static_cast<size_t>(pairs) * scale_row_pitch(q.intermediate), stream),
                  "intermediate-scale padding reset");
  }
  if (p.nvfp4 && p.x_hat != nullptr) {
    // The quantiser's items: one per K step of a slot (at most one per pair), or of a token when it runs per token.
    moe_quantize_fc1_input<<<grid_for(pairs * wgmma_steps(q.hidden), kQuantizeThreads, sms), kQuantizeThreads, 0, stream>>>(p);
    B12X_CUDA_TRY(cudaGetLastError(), "FC1 input quantisation launch");
  } else if (p.nvfp4) {
    B12X_CUDA_TRY(launch_kernel(moe_quantize_fc1_codes, dim3(grid_for(pairs * (q.hidden / 16), kQuantizeThreads, sms)),
                                dim3(kQuantizeThreads), 0, stream, pdl, p),
                  "FC1 input quantisation launch");
  }

  b12x_status_t status;
  switch (strategy) {
    case B12X_STRATEGY_STATIC:
      status = launch_gemms(p, false, pdl, sms, stream, message, message_capacity);
      break;
    case B12X_STRATEGY_DYNAMIC: status = launch_gemms(p, true, pdl, sms, stream, message, message_capacity); break;
    default: status = launch_reference(p, stream, message, message_capacity); break;
  }
  if (status != B12X_STATUS_SUCCESS) return status;
  // The combine waits for the GEMMs in pdl_wait whatever their launch, so it may always start early.
  B12X_CUDA_TRY(launch_moe_combine(p, pdl, stream), "combine launch");
  return B12X_STATUS_SUCCESS;
}

b12x_status_t launch_quantize(const void* x, int32_t rows, int32_t cols, const float* global_scale, uint8_t* codes,
                              uint8_t* scales, cudaStream_t stream, char* message, size_t message_capacity) {
  if (rows == 0) return B12X_STATUS_SUCCESS;
  int device = 0, sms = 0;
  B12X_CUDA_TRY(cudaGetDevice(&device), "device query");
  B12X_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "multiprocessor count query");
  const int64_t blocks = static_cast<int64_t>(rows) * (cols / 16);
  nvfp4_quantize_rows<<<grid_for(blocks, kQuantizeThreads, sms), kQuantizeThreads, 0, stream>>>(
      static_cast<const __nv_bfloat16*>(x), rows, cols, global_scale, codes, scales);
  B12X_CUDA_TRY(cudaGetLastError(), "quantiser launch");
  return B12X_STATUS_SUCCESS;
}

}  // namespace b12x
