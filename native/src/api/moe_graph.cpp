// CUDA-graph capture and replay of a whole layer call (b12x_moe_graph_*).
#include <cuda_runtime.h>
#include "../common/cuda_check.h"
#include "b12x/b12x.h"
#include "api_support.h"

struct b12x_moe_graph_s {
  cudaGraphExec_t exec;
  int device;
};

extern "C" {

B12X_API b12x_status_t b12x_moe_graph_create(const b12x_moe_problem_t* problem, void* workspace,
                                             size_t workspace_bytes, b12x_moe_graph_t* graph, char* message,
                                             size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() -> b12x_status_t {
    if (graph == nullptr) {
      b12x::write_message(message, message_capacity, "graph must be non-null");
      return B12X_STATUS_INVALID_ARGUMENT;
    }
    *graph = nullptr;
    b12x_status_t status = b12x::check_problem_call(problem, workspace, workspace_bytes, message, message_capacity);
    if (status != B12X_STATUS_SUCCESS) return status;
    b12x::DeviceScope scope(problem->device);
    B12X_CUDA_TRY(scope.status(), "selecting the problem's device");
    // Capture on a private stream: the legacy default stream cannot be captured.
    cudaStream_t stream = nullptr;
    B12X_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "capture stream creation");
    cudaGraph_t captured = nullptr;
    cudaError_t e = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
    if (e == cudaSuccess) {
      status = b12x::launch_moe(*problem, b12x::resolve_strategy(*problem), workspace, stream, message, message_capacity);
      const cudaError_t end = cudaStreamEndCapture(stream, &captured);  // always ends the capture
      if (status == B12X_STATUS_SUCCESS) e = end;
      // A launch that fails during capture can invalidate it, and the failed end then sets the thread's last error,
      // which a later call's launch check would report as its own: clear it (a sticky error stays regardless).
      if (status != B12X_STATUS_SUCCESS || end != cudaSuccess) cudaGetLastError();
    }
    cudaGraphExec_t exec = nullptr;
    if (e == cudaSuccess && status == B12X_STATUS_SUCCESS) e = cudaGraphInstantiateWithFlags(&exec, captured, 0);
    if (captured != nullptr) cudaGraphDestroy(captured);
    cudaStreamDestroy(stream);
    if (status != B12X_STATUS_SUCCESS) return status;
    B12X_CUDA_TRY(e, "graph capture");
    *graph = new b12x_moe_graph_s{exec, problem->device};
    return B12X_STATUS_SUCCESS;
  });
}

B12X_API b12x_status_t b12x_moe_graph_launch(b12x_moe_graph_t graph, void* stream, char* message,
                                             size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() -> b12x_status_t {
    if (graph == nullptr) {
      b12x::write_message(message, message_capacity, "graph must be non-null");
      return B12X_STATUS_INVALID_ARGUMENT;
    }
    b12x::DeviceScope scope(graph->device);
    B12X_CUDA_TRY(scope.status(), "selecting the graph's device");
    B12X_CUDA_TRY(cudaGraphLaunch(graph->exec, static_cast<cudaStream_t>(stream)), "graph launch");
    return B12X_STATUS_SUCCESS;
  });
}

B12X_API b12x_status_t b12x_moe_graph_time(b12x_moe_graph_t graph, void* flush, size_t flush_bytes,
                                           int32_t iterations, void* stream, float* median_us, char* message,
                                           size_t message_capacity) {
  return b12x::guarded(message, message_capacity, [&]() -> b12x_status_t {
    if (graph == nullptr || iterations < 1 || median_us == nullptr || (flush_bytes > 0 && flush == nullptr)) {
      b12x::write_message(message, message_capacity, "graph and median_us must be non-null, iterations >= 1 (got %d), flush non-null when flush_bytes > 0", iterations);
      return B12X_STATUS_INVALID_ARGUMENT;
    }
    b12x::DeviceScope scope(graph->device);
    B12X_CUDA_TRY(scope.status(), "selecting the graph's device");
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    return b12x::median_time(
        [&]() -> b12x_status_t {
          B12X_CUDA_TRY(cudaGraphLaunch(graph->exec, s), "graph launch");
          return B12X_STATUS_SUCCESS;
        },
        flush, flush_bytes, iterations, s, median_us, message, message_capacity);
  });
}

B12X_API void b12x_moe_graph_destroy(b12x_moe_graph_t graph) {
  if (graph == nullptr) return;
  cudaGraphExecDestroy(graph->exec);
  delete graph;
}

}  // extern "C"
