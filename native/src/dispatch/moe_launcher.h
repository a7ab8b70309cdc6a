// Host side of a call: resolves the strategy, lays out the workspace and queues the kernels.
#pragma once
#include <cuda_runtime.h>
#include "b12x/b12x.h"
#include "workspace_layout.h"

namespace b12x {

// AUTO resolved by routed pairs P = T*K (semantics.md "Kernel strategies").
int32_t resolve_strategy(const b12x_moe_problem_t& problem);

WorkspaceLayout workspace_for(const b12x_moe_problem_t& problem);

// UNSUPPORTED when the strategy's kernels need more shared memory per block than the device allows (large H or I
// with the micro or reference kernels), so callers get a clear refusal instead of a failed launch.
b12x_status_t check_kernel_limits(const b12x_moe_problem_t& problem, int32_t strategy, char* message,
                                  size_t message_capacity);

// Queues the whole layer on the stream. The problem has been validated.
b12x_status_t launch_moe(const b12x_moe_problem_t& problem, int32_t strategy, void* workspace, cudaStream_t stream,
                         char* message, size_t message_capacity);

// Queues the copy of the FC2-input codes of every valid pair (by pair index) out of a run's workspace.
b12x_status_t launch_intermediate_export(const b12x_moe_problem_t& problem, const void* workspace, uint8_t* codes,
                                         cudaStream_t stream, char* message, size_t message_capacity);

// A kernel of this build, to ask CUDA whether the build carries an image for a device.
const void* probe_kernel();

// Queues the row quantiser.
b12x_status_t launch_quantize(const void* x, int32_t rows, int32_t cols, const float* global_scale, uint8_t* codes,
                              uint8_t* scales, cudaStream_t stream, char* message, size_t message_capacity);

}  // namespace b12x
