namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>What <see cref="CheckpointQuantizer.Quantize"/> did to one layer.</summary>
/// <param name="Layer">The decoder layer.</param>
/// <param name="Experts">Its routed experts.</param>
/// <param name="GateUpError">‖W − Ŵ‖/‖W‖ over every expert's gate and up (or up alone) weights, Ŵ dequantised.</param>
/// <param name="DownError">The same over the down weights.</param>
/// <param name="Error">The same over all of the layer's expert weights.</param>
/// <param name="InputScale">The gate/up input_scale written (the same for every expert).</param>
/// <param name="MinDownInputScale">The smallest down_proj input_scale written.</param>
/// <param name="MaxDownInputScale">The largest down_proj input_scale written.</param>
public sealed record LayerQuantizationResult(
    int Layer, int Experts, double GateUpError, double DownError, double Error, float InputScale, float MinDownInputScale, float MaxDownInputScale);
