// TMA descriptors (CUtensorMap, tma.cuh) of 2-D row-major tensors, encoded on the host by the driver's
// cuTensorMapEncodeTiled. The runtime hands that entry point out by name, so the library links no driver library.
#pragma once
#include <cuda.h>
#include <cuda_runtime.h>
#include <cstdint>

namespace b12x {

// A [rows, columns] tensor of `type` at `base` (16-byte aligned), rows `pitch_bytes` apart (a multiple of 16), copied
// in boxes of box_columns x box_rows elements (box_columns x element size a multiple of 16 bytes, each extent at most
// 256); elements outside the tensor read as zero. cudaErrorInvalidValue when the driver refuses the description,
// cudaErrorNotSupported when it has no encoder.
cudaError_t encode_tensor_map_2d(CUtensorMap* map, CUtensorMapDataType type, const void* base, uint64_t columns,
                                 uint64_t rows, uint64_t pitch_bytes, uint32_t box_columns, uint32_t box_rows,
                                 CUtensorMapSwizzle swizzle);

}  // namespace b12x
