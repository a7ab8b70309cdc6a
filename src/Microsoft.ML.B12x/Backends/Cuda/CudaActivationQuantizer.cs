using System;
using Microsoft.ML.B12x.Backends.Cuda.Interop;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Backends.Cuda;

/// <summary>
/// Step 1 of the contract on the GPU (the native row quantiser the fused kernels share): bfloat16 rows → packed E2M1
/// codes and linear E4M3 scales, bit-identical to <see cref="Quantization.ActivationBlockQuantizer"/>.
/// </summary>
internal static class CudaActivationQuantizer
{
    /// <summary>
    /// Quantises x (bfloat16 [R, C], contiguous, on a CUDA device, C a multiple of 16) with the device-resident global
    /// scale (float32 [1]); returns codes uint8 [R, C/2] and scales uint8 [R, C/16] on the same device.
    /// </summary>
    public static (Tensor Codes, Tensor Scales) Quantize(Tensor x, Tensor globalScale)
    {
        TensorChecks.Dtype(x, nameof(x), ScalarType.BFloat16);
        TensorChecks.Rank(x, nameof(x), 2);
        TensorChecks.Contiguous(x, nameof(x));
        if (x.device_type != DeviceType.CUDA)
        {
            throw new ArgumentException($"x must be on a CUDA device; got {x.device}.", nameof(x));
        }
        TensorChecks.Dtype(globalScale, nameof(globalScale), ScalarType.Float32);
        TensorChecks.Shape(globalScale, nameof(globalScale), 1);
        TensorChecks.SameDevice(globalScale, nameof(globalScale), x.device);
        int rows = TensorChecks.Dimension(x, nameof(x), 0), cols = TensorChecks.Dimension(x, nameof(x), 1);
        Tensor codes = empty(new long[] { rows, cols / 2 }, ScalarType.Byte, x.device);
        Tensor scales = empty(new long[] { rows, cols / 16 }, ScalarType.Byte, x.device);
        NativeProxy.QuantizeNvfp4(
            TensorPointers.DataPointer(x), rows, cols, TensorPointers.DataPointer(globalScale), TensorPointers.DataPointer(codes),
            TensorPointers.DataPointer(scales), Math.Max(x.device_index, 0));
        return (codes, scales);
    }
}
