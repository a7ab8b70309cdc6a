namespace Microsoft.ML.B12x;

/// <summary>The activation between FC1 and FC2 (FlashInfer's <c>activation</c>).</summary>
public enum MoeActivation
{
    /// <summary>"silu": gated SwiGLU, a = silu(gate)·up; W1 holds [up; gate], 2I rows.</summary>
    Silu,

    /// <summary>"relu2": squared ReLU, a = max(x, 0)²; W1 holds I rows (Nemotron-H).</summary>
    Relu2,
}
