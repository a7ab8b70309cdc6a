// The process-wide, one-shot fault hook behind b12x_fault_arm: lets tests make a real CUDA call fail on demand.
#pragma once
#include <cuda_runtime.h>
#include <cstddef>
#include <cstdint>
#include "b12x/b12x.h"

namespace b12x {

// INVALID_ARGUMENT (with a message) for a value that is not a b12x_fault_t; otherwise arms it (NONE disarms).
b12x_status_t arm_fault(int32_t fault, char* message, size_t message_capacity);

// Takes the armed fault, if any (exactly one caller sees it), and queues it on the stream before the caller's own
// kernels: LAUNCH_CONFIGURATION returns CUDA_ERROR from a launch the runtime refuses; ILLEGAL_ADDRESS launches a
// kernel that writes through an invalid pointer and returns SUCCESS (the sticky error surfaces later).
b12x_status_t inject_armed_fault(cudaStream_t stream, char* message, size_t message_capacity);

}  // namespace b12x
