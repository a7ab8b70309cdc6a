using System;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Quantization;

/// <summary>
/// NVFP4 weights as ModelOpt stores them, on the device of the source tensor. For a source of shape [E, N, C]
/// (a [N, C] source gives the same tensors without the leading E, and one global scale):
/// </summary>
/// <param name="Codes">uint8 [E, N, C/2]: two E2M1 codes per byte, element 2j in the low nibble.</param>
/// <param name="Scales">uint8 [E, N, C/16]: E4M3 block-scale bytes in the LINEAR layout (swizzle them with
/// <see cref="Nvfp4Quantizer.SwizzleScales"/> for the operator's default layout).</param>
/// <param name="GlobalScales">float32 [E]: the per-expert global scale S (ModelOpt's <c>weight_scale_2</c>), so that
/// w ≈ value(code) · decode(scale) · S.</param>
public sealed record QuantizedWeights(Tensor Codes, Tensor Scales, Tensor GlobalScales) : IDisposable
{
    /// <summary>Disposes the three tensors.</summary>
    public void Dispose()
    {
        Codes.Dispose();
        Scales.Dispose();
        GlobalScales.Dispose();
    }
}
