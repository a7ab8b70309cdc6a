namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>Choices for <see cref="CheckpointImporter.ImportLayer"/>; the defaults give the operator's own convention.</summary>
public sealed record CheckpointImportOptions
{
    /// <summary>The default options.</summary>
    public static CheckpointImportOptions Default { get; } = new();

    /// <summary>
    /// Layout of the block scales in the imported layer: <see cref="ScaleLayout.Swizzled128x4"/> (default, what layer
    /// files store and FlashInfer expects) or <see cref="ScaleLayout.Linear"/> (as in checkpoints).
    /// </summary>
    public ScaleLayout ScaleLayout { get; init; } = ScaleLayout.Swizzled128x4;

    /// <summary>
    /// Emit FlashInfer's older scale convention (its original <c>b12x_fused_moe</c> signature, no
    /// <c>input_global_scale</c>): W1's weight global scale is baked into its E4M3 block scales,
    /// E4M3(scale · weight_scale_2), and <c>w1_alpha</c> is the FC1 input scale, which then serves as both the
    /// quantisation scale and the output factor (semantics.md §Scales). Lossy: every W1 block scale is rounded to
    /// E4M3 once more, and scales that fall below E4M3's normal range lose precision or become zero; the import
    /// report counts them. Ignored for weight-only (w4a16) layers, which have no activation scale.
    /// </summary>
    public bool LegacyScales { get; init; }
}
