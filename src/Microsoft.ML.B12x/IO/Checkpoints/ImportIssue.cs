namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// What an <see cref="ImportNote"/> is about. The trap numbers refer to checkpoint-formats.md §7.
/// </summary>
public enum ImportIssue
{
    /// <summary>
    /// T6: an expert's gate and up projections carry different weight global scales; the larger one, S, is used for
    /// both and the other half's block scales are re-expressed as E4M3(scale · S_half / S) (one extra rounding).
    /// </summary>
    GateUpWeightScalesDiffer,

    /// <summary>
    /// T8: an input scale is missing, non-finite or not positive; it is replaced by the largest valid input scale of
    /// the same projection among the layer's other experts.
    /// </summary>
    InputScaleReplaced,

    /// <summary>T8: a valid input scale lies far from the layer's other experts (kept, but it may be garbage).</summary>
    InputScaleOutlier,

    /// <summary>An expert's gate and up input scales differ (they see the same input); the larger one is used.</summary>
    GateUpInputScalesDiffer,

    /// <summary>
    /// T7: the gate/up input scales differ across experts; the layer's input_global_scale is their maximum.
    /// </summary>
    InputScalesDifferAcrossExperts,

    /// <summary>T9: a weight global scale of 0 in ModelOpt form (compressed-tensors +inf): the weight is all zero.</summary>
    AllZeroWeight,

    /// <summary>T17: block scales with the sign bit set (never written by producers; decoded as negative).</summary>
    NegativeBlockScales,

    /// <summary>T16: a weight-only checkpoint carries input scales anyway; they are not used.</summary>
    InputScalesIgnored,

    /// <summary>config.json names no activation; it follows from the expert projections (gated: silu, else relu2).</summary>
    ActivationAssumed,

    /// <summary>config.json has no num_experts_per_tok; the layer's top_k is left open.</summary>
    TopKUnknown,

    /// <summary>
    /// The older scale convention was requested: W1's weight global scale is baked into its E4M3 block scales, which
    /// rounds them once more (lossy).
    /// </summary>
    LegacyScalesLossy,
}
