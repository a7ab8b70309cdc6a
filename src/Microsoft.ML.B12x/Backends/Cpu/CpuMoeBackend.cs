using System;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>The C# CPU backend (semantics.md, canonical order).</summary>
internal sealed class CpuMoeBackend : IMoeBackend
{
    public static CpuMoeBackend Instance { get; } = new();

    public string Name => "cpu";

    public string? WhyNotSupported(MoeProblem problem) => null;

    public void Run(MoeProblem problem, Tensor output) => throw new NotImplementedException("CPU backend pending.");
}
