namespace Microsoft.ML.B12x;

/// <summary>
/// Which CUDA kernel strategy runs the layer. <see cref="Auto"/> chooses by routed pairs P = T·K (thresholds in
/// <see cref="FusedMoeOptions"/>); the others force one, so tests can cover each. The CPU backend ignores it.
/// </summary>
public enum KernelStrategy
{
    /// <summary>Micro for T ≤ 8 and P ≤ 40, static for P ≤ 640, dynamic above.</summary>
    Auto,

    /// <summary>Decode path: few tokens, weights streamed once by many CTAs.</summary>
    Micro,

    /// <summary>Routed pairs grouped by expert, one statically partitioned grid.</summary>
    Static,

    /// <summary>Persistent grid pulling (expert, tile) work items from a queue.</summary>
    Dynamic,
}
