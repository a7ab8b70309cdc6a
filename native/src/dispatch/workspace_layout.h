// Where each plane of a call's workspace lives. All offsets are 256-byte aligned (the alignment cudaMalloc and
// TorchSharp's caching allocator give), so every plane is aligned for 16-byte vector access.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include "plane_pitch.h"

namespace b12x {

// The kernel family's own operand planes beside the common ones: each family reads exactly one kind.
enum class OperandPlanes {
  kCodes,     // NVFP4 input codes and scales (xq, aq) or W4A16 bf16 rows (a_bf16): tiled, streaming, reference
  kFp16Rows,  // micro NVFP4 and 8-token narrow kernels: aq, x_fp16, a_fp16
  kWgmma,     // wgmma kernels: aq, x_hat, a_hat
};

struct WorkspaceLayout {
  size_t counts, cursor, offsets, tile_prefix, queue_heads;  // control block, zeroed per call (counts)
  size_t slot_pair, slot_expert, pair_slot, tile_map;
  size_t xq_codes, xq_scales, aq_codes, aq_scales, a_bf16;    // 0-sized planes are unused by the mode
  size_t x_fp16, a_fp16;  // micro NVFP4 and 8-token narrow kernels: FC1 and FC2 inputs as exact fp16 values
  size_t x_hat, a_hat;    // wgmma kernels only: FC1 and FC2 inputs as exact fp16 values (wgmma_operand.cuh)
  size_t y;
  size_t total;
};

constexpr size_t kWorkspaceAlignment = 256;

inline WorkspaceLayout make_workspace_layout(int64_t tokens, int64_t top_k, int64_t hidden, int64_t intermediate,
                                             int64_t local_experts, bool nvfp4, OperandPlanes planes) {
  WorkspaceLayout w{};
  size_t at = 0;
  auto place = [&at](size_t bytes) {
    size_t offset = at;
    at += (bytes + kWorkspaceAlignment - 1) / kWorkspaceAlignment * kWorkspaceAlignment;
    return offset;
  };
  const size_t pairs = static_cast<size_t>(tokens * top_k);
  const size_t e = static_cast<size_t>(local_experts);
  w.counts = place(e * 4);
  w.cursor = place(e * 4);
  w.offsets = place((e + 1) * 4);
  w.tile_prefix = place((e + 1) * 4);
  w.queue_heads = place(2 * 4);
  w.slot_pair = place(pairs * 4);
  w.slot_expert = place(pairs * 4);
  w.pair_slot = place(pairs * 4);
  w.tile_map = place((pairs + std::min(e, pairs)) * 16);  // token tiles of any tile size: one per slot plus one partial per expert
  // FC1's input codes are kept only for the kernels that read them: the wgmma kernels read x_hat, the micro NVFP4
  // and 8-token narrow kernels x_fp16.
  const bool fc1_codes = nvfp4 && planes == OperandPlanes::kCodes;
  const bool fp16_rows = planes == OperandPlanes::kFp16Rows, wgmma = planes == OperandPlanes::kWgmma;
  w.xq_codes = place(fc1_codes ? pairs * static_cast<size_t>(hidden / 2) : 0);
  w.xq_scales = place(fc1_codes ? pairs * static_cast<size_t>(scale_row_pitch(static_cast<int32_t>(hidden))) : 0);
  w.aq_codes = place(nvfp4 ? pairs * static_cast<size_t>(intermediate / 2) : 0);
  w.aq_scales = place(nvfp4 ? pairs * static_cast<size_t>(scale_row_pitch(static_cast<int32_t>(intermediate))) : 0);
  w.a_bf16 = place(nvfp4 ? 0 : pairs * static_cast<size_t>(intermediate) * 2);
  w.x_fp16 = place(fp16_rows ? pairs * static_cast<size_t>(hidden) * 2 : 0);
  w.a_fp16 = place(fp16_rows ? pairs * static_cast<size_t>(intermediate) * 2 : 0);
  w.x_hat = place(wgmma ? pairs * static_cast<size_t>(wgmma_row_pitch(hidden)) * 2 : 0);
  w.a_hat = place(wgmma ? pairs * static_cast<size_t>(wgmma_row_pitch(intermediate)) * 2 : 0);
  w.y = place(pairs * static_cast<size_t>(hidden) * 4);
  w.total = at;
  return w;
}

}  // namespace b12x
