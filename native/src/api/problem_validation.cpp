#include "problem_validation.h"

#include <cstdint>
#include "../common/alignment.h"
#include "../common/cuda_check.h"

namespace b12x {

#define B12X_REQUIRE(condition, ...)                                   \
  do {                                                                 \
    if (!(condition)) {                                                \
      write_message(message, message_capacity, __VA_ARGS__);           \
      return B12X_STATUS_INVALID_ARGUMENT;                             \
    }                                                                  \
  } while (0)

b12x_status_t validate_problem_shape(const b12x_moe_problem_t* q, char* message, size_t message_capacity) {
  B12X_REQUIRE(q != nullptr, "problem is null");
  B12X_REQUIRE(q->struct_size == sizeof(b12x_moe_problem_t),
               "problem.struct_size is %u but this library (ABI %d) expects %zu: the caller was built against another header",
               q->struct_size, B12X_ABI_VERSION, sizeof(b12x_moe_problem_t));
  B12X_REQUIRE(q->num_tokens >= 0, "num_tokens must be >= 0, got %d", q->num_tokens);
  B12X_REQUIRE(q->hidden > 0 && q->hidden % 16 == 0, "hidden must be a positive multiple of 16, got %d", q->hidden);
  B12X_REQUIRE(q->intermediate > 0 && q->intermediate % 16 == 0,
               "intermediate must be a positive multiple of 16, got %d", q->intermediate);
  B12X_REQUIRE(q->num_experts >= 1, "num_experts must be >= 1, got %d", q->num_experts);
  B12X_REQUIRE(q->num_local_experts >= 1 && q->num_local_experts <= q->num_experts,
               "num_local_experts must be in [1, num_experts = %d], got %d", q->num_experts, q->num_local_experts);
  B12X_REQUIRE(q->local_expert_offset >= 0 &&
                   static_cast<int64_t>(q->local_expert_offset) + q->num_local_experts <= q->num_experts,
               "local_expert_offset + num_local_experts must be <= num_experts = %d, got %d + %d", q->num_experts,
               q->local_expert_offset, q->num_local_experts);
  B12X_REQUIRE(q->top_k >= 1, "top_k must be >= 1, got %d", q->top_k);
  B12X_REQUIRE(static_cast<int64_t>(q->num_tokens) * q->top_k <= INT32_MAX,
               "num_tokens * top_k must fit in 32 bits, got %d * %d", q->num_tokens, q->top_k);
  B12X_REQUIRE(q->activation == B12X_ACTIVATION_SILU || q->activation == B12X_ACTIVATION_RELU2,
               "activation must be B12X_ACTIVATION_SILU (0) or B12X_ACTIVATION_RELU2 (1), got %d", q->activation);
  B12X_REQUIRE(q->quant_mode == B12X_QUANT_MODE_NVFP4 || q->quant_mode == B12X_QUANT_MODE_W4A16,
               "quant_mode must be B12X_QUANT_MODE_NVFP4 (0) or B12X_QUANT_MODE_W4A16 (1), got %d", q->quant_mode);
  B12X_REQUIRE(q->scale_layout == B12X_SCALE_LAYOUT_SWIZZLED_128X4 || q->scale_layout == B12X_SCALE_LAYOUT_LINEAR,
               "scale_layout must be 0 (swizzled 128x4) or 1 (linear), got %d", q->scale_layout);
  B12X_REQUIRE(q->index_type == B12X_INDEX_INT32 || q->index_type == B12X_INDEX_INT64,
               "index_type must be B12X_INDEX_INT32 (0) or B12X_INDEX_INT64 (1), got %d", q->index_type);
  B12X_REQUIRE(q->strategy >= B12X_STRATEGY_AUTO && q->strategy <= B12X_STRATEGY_REFERENCE,
               "strategy must be in [0, 4], got %d", q->strategy);
  B12X_REQUIRE(q->reciprocal_alphas == 0 || q->quant_mode == B12X_QUANT_MODE_W4A16,
               "reciprocal alphas (compressed-tensors) are only valid with B12X_QUANT_MODE_W4A16");
  B12X_REQUIRE(q->micro_max_tokens >= 0 && q->micro_max_pairs >= 0 && q->static_max_pairs >= 0,
               "strategy thresholds must be >= 0, got %d, %d, %d", q->micro_max_tokens, q->micro_max_pairs,
               q->static_max_pairs);
  return B12X_STATUS_SUCCESS;
}

b12x_status_t validate_problem(const b12x_moe_problem_t* q, char* message, size_t message_capacity) {
  b12x_status_t status = validate_problem_shape(q, message, message_capacity);
  if (status != B12X_STATUS_SUCCESS || q->num_tokens == 0) return status;  // no tokens: nothing is read or written

  B12X_REQUIRE(q->x != nullptr && aligned(q->x, 16), "x must be a non-null, 16-byte aligned bf16 [T, H] pointer");
  B12X_REQUIRE(q->output != nullptr && aligned(q->output, 8),
               "output must be a non-null, 8-byte aligned bf16 [T, H] pointer");
  B12X_REQUIRE(q->w1 != nullptr && aligned(q->w1, 8), "w1 must be a non-null, 8-byte aligned pointer");
  B12X_REQUIRE(q->w2 != nullptr && aligned(q->w2, 8), "w2 must be a non-null, 8-byte aligned pointer");
  B12X_REQUIRE(q->w1_scales != nullptr && q->w2_scales != nullptr, "w1_scales and w2_scales must be non-null");
  B12X_REQUIRE(q->expert_ids != nullptr && aligned(q->expert_ids, q->index_type == B12X_INDEX_INT64 ? 8 : 4),
               "expert_ids must be a non-null, naturally aligned pointer");
  B12X_REQUIRE(q->routing_weights != nullptr && aligned(q->routing_weights, 4), "routing_weights must be non-null");
  B12X_REQUIRE(q->w1_alpha.values != nullptr && q->w2_alpha.values != nullptr, "w1_alpha and w2_alpha are required");
  B12X_REQUIRE(q->quant_mode != B12X_QUANT_MODE_NVFP4 || q->fc2_input_scale.values != nullptr,
               "fc2_input_scale is required with B12X_QUANT_MODE_NVFP4");
  const b12x_expert_scalars_t* scalars[] = {&q->w1_alpha, &q->w2_alpha, &q->fc2_input_scale, &q->input_global_scale};
  for (const b12x_expert_scalars_t* s : scalars) {
    if (s->values == nullptr) continue;
    B12X_REQUIRE(s->stride == 0 || s->stride == 1, "per-expert scalar stride must be 0 or 1, got %d", s->stride);
    B12X_REQUIRE(s->base >= 0 && static_cast<int64_t>(s->base) + static_cast<int64_t>(s->stride) * (q->num_local_experts - 1) <
                                     q->num_experts,
                 "per-expert scalar base %d with stride %d indexes past num_experts = %d", s->base, s->stride,
                 q->num_experts);
  }
  return B12X_STATUS_SUCCESS;
}

#undef B12X_REQUIRE

}  // namespace b12x
