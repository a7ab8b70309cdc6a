using System;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Quantization;

/// <summary>Activations quantised by the operator's step-1 quantiser (<see cref="ActivationBlockQuantizer"/>), on the device of the source tensor.</summary>
/// <param name="Codes">uint8 [T, C/2]: two E2M1 codes per byte, element 2j in the low nibble.</param>
/// <param name="Scales">uint8 [T, C/16]: E4M3 block-scale bytes, linear layout.</param>
/// <param name="GlobalScale">The global scale gs used, so that x ≈ value(code) · decode(scale) · gs.</param>
public sealed record QuantizedActivations(Tensor Codes, Tensor Scales, float GlobalScale) : IDisposable
{
    /// <summary>Disposes the two tensors.</summary>
    public void Dispose()
    {
        Codes.Dispose();
        Scales.Dispose();
    }
}
