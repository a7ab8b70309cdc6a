/*
 * Microsoft.ML.B12x native library: the fused NVFP4 Mixture-of-Experts layer on CUDA.
 *
 * Plain C ABI. Every function returns a b12x_status_t; on failure a message is written into the caller's buffer
 * (message, message_capacity; truncated, always NUL-terminated when capacity > 0). No C++ exception crosses this
 * boundary and the library never allocates device memory: the caller passes device pointers for every tensor and a
 * workspace of at least b12x_moe_workspace_size() bytes. Work is queued on the given stream (NULL = the legacy
 * default stream, which orders it with TorchSharp's own work); calls return without synchronising.
 *
 * Numerics: docs/semantics.md of the repository (the operator contract shared with the C# CPU backend).
 */
#ifndef B12X_B12X_H
#define B12X_B12X_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define B12X_API __declspec(dllexport)
#else
#define B12X_API __attribute__((visibility("default")))
#endif

/* The ABI version: bumped whenever a struct or signature below changes. */
#define B12X_ABI_VERSION 1

typedef enum b12x_status_t {
  B12X_STATUS_SUCCESS = 0,
  B12X_STATUS_INVALID_ARGUMENT = 1,   /* a pointer, size or enum value is out of contract */
  B12X_STATUS_UNSUPPORTED = 2,        /* valid, but this build or device cannot serve it */
  B12X_STATUS_WORKSPACE_TOO_SMALL = 3,
  B12X_STATUS_CUDA_ERROR = 4,         /* a CUDA call failed; later calls keep working */
  B12X_STATUS_CUDA_CONTEXT_LOST = 5,  /* a sticky CUDA error: the process's CUDA context is unusable */
  B12X_STATUS_OUT_OF_MEMORY = 6,
  B12X_STATUS_INTERNAL = 7
} b12x_status_t;

typedef enum b12x_activation_t { B12X_ACTIVATION_SILU = 0, B12X_ACTIVATION_RELU2 = 1 } b12x_activation_t;

typedef enum b12x_quant_mode_t { B12X_QUANT_MODE_NVFP4 = 0, B12X_QUANT_MODE_W4A16 = 1 } b12x_quant_mode_t;

typedef enum b12x_scale_layout_t {
  B12X_SCALE_LAYOUT_SWIZZLED_128X4 = 0, /* contiguous [E_loc][Np/128][Cbp/4][32][4][4] bytes */
  B12X_SCALE_LAYOUT_LINEAR = 1          /* contiguous [E_loc][N][C/16] bytes */
} b12x_scale_layout_t;

typedef enum b12x_index_type_t { B12X_INDEX_INT32 = 0, B12X_INDEX_INT64 = 1 } b12x_index_type_t;

typedef enum b12x_strategy_t {
  B12X_STRATEGY_AUTO = 0,
  B12X_STRATEGY_MICRO = 1,    /* decode: 8-token tiles, one CTA per work item */
  B12X_STRATEGY_STATIC = 2,   /* 32-token tiles, one CTA per work item */
  B12X_STRATEGY_DYNAMIC = 3,  /* 64-token tiles, persistent grid pulling work items from a queue */
  B12X_STRATEGY_REFERENCE = 4 /* simple CUDA-core kernels in the CPU backend's canonical order (for tests) */
} b12x_strategy_t;

/* A per-expert float32 scalar on the device: the value of local expert l is values[base + stride * l].
 * [1] tensors use stride 0; [E] tensors on an expert-parallel rank use base = local_expert_offset. values == NULL
 * means "not given". */
typedef struct b12x_expert_scalars_t {
  const float* values;
  int32_t stride;
  int32_t base;
} b12x_expert_scalars_t;

/* One fused-MoE call. Shapes use T tokens, H hidden, I intermediate, E experts, L local experts, K top_k. */
typedef struct b12x_moe_problem_t {
  uint32_t struct_size;          /* sizeof(b12x_moe_problem_t) as the caller compiled it */
  int32_t device;                /* CUDA device ordinal all pointers live on */
  int32_t num_tokens;            /* T >= 0 */
  int32_t hidden;                /* H, multiple of 16 */
  int32_t intermediate;          /* I, multiple of 16 */
  int32_t num_experts;           /* E >= 1: valid global ids are [0, E) */
  int32_t num_local_experts;     /* L in [1, E] */
  int32_t local_expert_offset;   /* this rank owns global ids [offset, offset + L) */
  int32_t top_k;                 /* K >= 1 */
  int32_t activation;            /* b12x_activation_t */
  int32_t quant_mode;            /* b12x_quant_mode_t */
  int32_t scale_layout;          /* b12x_scale_layout_t */
  int32_t reciprocal_alphas;     /* 1: w1_alpha/w2_alpha hold 1/alpha (compressed-tensors, W4A16 only) */
  int32_t index_type;            /* b12x_index_type_t of expert_ids */
  int32_t strategy;              /* b12x_strategy_t */
  int32_t micro_max_tokens;      /* AUTO: micro when T <= this and T*K <= micro_max_pairs */
  int32_t micro_max_pairs;
  int32_t static_max_pairs;      /* AUTO: static when T*K <= this, else dynamic */
  const void* x;                 /* bf16 [T, H] */
  const uint8_t* w1;             /* [L, 2I (silu) or I (relu2), H/2] E2M1 pairs, element 2j in the low nibble */
  const uint8_t* w1_scales;      /* E4M3 bytes, scale_layout, rows 2I or I, columns H */
  const uint8_t* w2;             /* [L, H, I/2] */
  const uint8_t* w2_scales;      /* E4M3 bytes, scale_layout, rows H, columns I */
  const void* expert_ids;        /* [T, K] int32 or int64 global ids; out-of-range ids are skipped */
  const float* routing_weights;  /* [T, K] */
  b12x_expert_scalars_t w1_alpha;
  b12x_expert_scalars_t w2_alpha;
  b12x_expert_scalars_t fc2_input_scale;    /* gs2, required for NVFP4 */
  b12x_expert_scalars_t input_global_scale; /* gs1, optional (NVFP4) */
  void* output;                  /* bf16 [T, H], fully overwritten */
} b12x_moe_problem_t;

/* Library version as MAJOR*10000 + MINOR*100 + PATCH. */
B12X_API int32_t b12x_version_get(void);

/* The ABI version this library was built with (B12X_ABI_VERSION). */
B12X_API int32_t b12x_abi_version_get(void);

/* A static, never-freed name of a status value ("B12X_STATUS_SUCCESS", ...). */
B12X_API const char* b12x_status_name_get(b12x_status_t status);

/* Compute capability (major*10 + minor) and multiprocessor count of a device, and whether this build carries
 * kernels that run on it. */
B12X_API b12x_status_t b12x_device_query(int32_t device, int32_t* compute_capability, int32_t* multiprocessors,
                                         int32_t* supported, char* message, size_t message_capacity);

/* The marketing name of a device (e.g. "NVIDIA H100 80GB HBM3") into name (NUL-terminated, truncated). */
B12X_API b12x_status_t b12x_device_name_query(int32_t device, char* name, size_t name_capacity, char* message,
                                              size_t message_capacity);

/* Free and total device memory (cudaMemGetInfo) of a device, for leak checks: every allocation belongs to the
 * caller, so a stable free count across calls shows the library keeps nothing. */
B12X_API b12x_status_t b12x_device_memory_query(int32_t device, size_t* free_bytes, size_t* total_bytes,
                                                char* message, size_t message_capacity);

/* The strategy a problem runs with (AUTO resolved) and the workspace bytes it needs. Checks sizes, enums and the
 * strategy's kernel limits on the problem's device (UNSUPPORTED when, e.g., a row of H values does not fit a block's
 * shared memory); reads no tensor, so its pointers may be NULL. strategy (optional) is written once sizes and enums
 * pass, so it also names the strategy whose limits refused the problem. */
B12X_API b12x_status_t b12x_moe_plan_query(const b12x_moe_problem_t* problem, int32_t* strategy,
                                           size_t* workspace_bytes, char* message, size_t message_capacity);

/* Runs the layer. workspace: device memory of at least the planned size, 256-byte aligned; its contents need no
 * initialisation. strategy_used (optional) receives the resolved strategy. */
B12X_API b12x_status_t b12x_moe_run(const b12x_moe_problem_t* problem, void* workspace, size_t workspace_bytes,
                                    void* stream, int32_t* strategy_used, char* message, size_t message_capacity);

/* A whole layer call captured as one CUDA graph: the same problem (pointers, sizes, token count) replayed with the
 * least launch overhead, for decode. The workspace and every tensor the problem points to must outlive the graph;
 * their contents may change between launches. Creating a graph allocates no device memory of the caller's. */
typedef struct b12x_moe_graph_s* b12x_moe_graph_t;

B12X_API b12x_status_t b12x_moe_graph_create(const b12x_moe_problem_t* problem, void* workspace,
                                             size_t workspace_bytes, b12x_moe_graph_t* graph, char* message,
                                             size_t message_capacity);

/* Queues one replay on the stream (NULL: the legacy default stream). */
B12X_API b12x_status_t b12x_moe_graph_launch(b12x_moe_graph_t graph, void* stream, char* message,
                                             size_t message_capacity);

/* Benchmarks: like b12x_moe_time, for replays of a graph. */
B12X_API b12x_status_t b12x_moe_graph_time(b12x_moe_graph_t graph, void* flush, size_t flush_bytes,
                                           int32_t iterations, void* stream, float* median_us, char* message,
                                           size_t message_capacity);

/* Releases a graph (NULL is ignored). */
B12X_API void b12x_moe_graph_destroy(b12x_moe_graph_t graph);

/* Benchmarks: runs the problem `iterations` times on the stream, each run preceded by a write of flush_bytes of the
 * device buffer `flush` (0 bytes: no flush; 256 MB or more evicts the L2 so weights come from DRAM, "cold L2") and
 * timed with CUDA events around the run alone; writes the median in microseconds. Synchronises the stream. */
B12X_API b12x_status_t b12x_moe_time(const b12x_moe_problem_t* problem, void* workspace, size_t workspace_bytes,
                                     void* flush, size_t flush_bytes, int32_t iterations, void* stream,
                                     float* median_us, char* message, size_t message_capacity);

/* Diagnostics: after an NVFP4 b12x_moe_run with this problem and workspace (same stream, not yet reused),
 * copies the FC2-input codes of every valid routed pair into codes [T*K, I/2] (row = t*K + k; rows of invalid
 * pairs are left untouched). Lets tests count how many intermediate FP4 codes differ between backends. */
B12X_API b12x_status_t b12x_moe_intermediate_codes(const b12x_moe_problem_t* problem, const void* workspace,
                                                   size_t workspace_bytes, uint8_t* codes, void* stream,
                                                   char* message, size_t message_capacity);

/* NVFP4-quantises rows of bf16 values exactly as step 1 of the contract: x bf16 [rows, cols] (cols multiple of
 * 16), global_scale one float32 on the device (gs, divisor form); writes codes [rows, cols/2] and linear E4M3
 * block scales [rows, cols/16]. */
B12X_API b12x_status_t b12x_nvfp4_quantize(const void* x, int32_t rows, int32_t cols, const float* global_scale,
                                           uint8_t* codes, uint8_t* scales, int32_t device, void* stream,
                                           char* message, size_t message_capacity);

/* Test hook: CUDA failures on demand, to check that errors surface as statuses with a message and what follows
 * them. Not for production use. */
typedef enum b12x_fault_t {
  B12X_FAULT_NONE = 0,                 /* disarms */
  B12X_FAULT_LAUNCH_CONFIGURATION = 1, /* a kernel launch the runtime refuses (invalid block size): non-sticky */
  B12X_FAULT_ILLEGAL_ADDRESS = 2       /* a kernel that writes through an invalid pointer: sticky, loses the context */
} b12x_fault_t;

/* Arms one fault for the whole process (replacing any armed one). The next call that launches the layer's kernels
 * (b12x_moe_run, b12x_moe_time or b12x_moe_graph_create with at least one token) takes it, so exactly one call
 * sees it, and before its own kernels launches a dedicated fault kernel on its stream:
 *   LAUNCH_CONFIGURATION: the launch fails at once and that call returns B12X_STATUS_CUDA_ERROR with a message
 *     naming the step ("injected fault launch failed: ..."); nothing of it runs, and later calls keep working.
 *   ILLEGAL_ADDRESS: the kernel runs and faults; the call itself may still return B12X_STATUS_SUCCESS. The sticky
 *     error surfaces at the next synchronisation, and every later call returns B12X_STATUS_CUDA_CONTEXT_LOST: the
 *     process's CUDA context is unusable, so use it only in a process of its own.
 * INVALID_ARGUMENT for a value outside b12x_fault_t (nothing is armed then). Needs no device. */
B12X_API b12x_status_t b12x_fault_arm(int32_t fault, char* message, size_t message_capacity);

#ifdef __cplusplus
}
#endif

#endif /* B12X_B12X_H */
