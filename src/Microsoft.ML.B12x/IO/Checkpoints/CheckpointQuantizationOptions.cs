using System;
using System.Collections.Generic;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>Choices for <see cref="CheckpointQuantizer.Quantize"/>.</summary>
public sealed record CheckpointQuantizationOptions
{
    /// <summary>The default options: every MoE layer, no calibration, no progress.</summary>
    public static CheckpointQuantizationOptions Default { get; } = new();

    /// <summary>
    /// The input scale written when no calibration is given, for every expert projection: 1/6 = 448/2688, i.e. an
    /// assumed activation amax of 448. Each 16-block's E4M3 scale then equals the block's amax, so blocks with an amax
    /// up to 448 are represented without clipping, down to 2^-6 with full E4M3 precision and to 2^-9 as subnormals.
    /// </summary>
    public const float DefaultInputScale = 1f / 6f;

    /// <summary>The decoder layers to quantise; null for every layer that has routed experts.</summary>
    public IReadOnlyCollection<int>? Layers { get; init; }

    /// <summary>
    /// A safetensors file of calibration activations: <c>x</c> (BF16, F16 or F32 [T, H]) used for every layer, or
    /// <c>layers.{l}.x</c> for layer l (taking precedence). An inputs file of <c>b12x synth</c> works. Input scales
    /// become amax/(6·448): of x for gate/up (the same for every expert), and per expert of the activation
    /// act(x·W_gateᵀ)·(x·W_upᵀ) (relu² of x·W_upᵀ for non-gated experts) for down_proj, computed in float64 from the
    /// quantised weights with every calibration token sent to every expert. Null: <see cref="DefaultInputScale"/>.
    /// </summary>
    public string? CalibrationPath { get; init; }

    /// <summary>Receives one line per step of long work (a layer quantised, a file written).</summary>
    public IProgress<string>? Progress { get; init; }
}
