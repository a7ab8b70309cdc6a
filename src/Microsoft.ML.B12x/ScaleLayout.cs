namespace Microsoft.ML.B12x;

/// <summary>Memory layout of the E4M3 block-scale tensors.</summary>
public enum ScaleLayout
{
    /// <summary>
    /// FlashInfer's 128×4 swizzle: contiguous storage of E·Np·Cbp bytes (any shape), or its 6-D logical view
    /// (32, 4, Np/128, 4, Cbp/4, E). See <see cref="Formats.SwizzledScaleLayout"/>.
    /// </summary>
    Swizzled128x4,

    /// <summary>Row-major [E, N, C/16], as in checkpoints. See <see cref="Formats.LinearScaleLayout"/>.</summary>
    Linear,
}
