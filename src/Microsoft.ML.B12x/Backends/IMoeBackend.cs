using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Backends;

/// <summary>A backend (CPU or CUDA) that computes a validated fused-MoE problem on the problem's device.</summary>
internal interface IMoeBackend
{
    /// <summary>Short name for logs and benchmark tables ("cpu", "cuda").</summary>
    string Name { get; }

    /// <summary>
    /// Null when this backend can serve the problem, else the reason (the text of the NotSupportedException).
    /// Checked before any work starts.
    /// </summary>
    string? WhyNotSupported(MoeProblem problem);

    /// <summary>Computes the layer into <paramref name="output"/> (bfloat16 [T, H], contiguous, on the problem's device).</summary>
    void Run(MoeProblem problem, Tensor output);
}
