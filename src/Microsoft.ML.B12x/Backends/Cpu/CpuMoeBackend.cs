using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// The C# CPU backend: semantics.md steps 1–7 in the canonical order, so its bits do not depend on the thread count,
/// the vector width or the batch. Tokens are processed in ranges small enough that the per-pair float32 rows stay
/// within <see cref="WorkspaceFloatBudget"/>; for each range: routing plan, input quantisation, FC1 with the
/// activation, FC2, ordered combine.
/// </summary>
internal sealed class CpuMoeBackend : IMoeBackend
{
    /// <summary>Per-range workspace limit: 64 Mi floats (256 MB) of per-pair rows.</summary>
    private const long WorkspaceFloatBudget = 64L << 20;

    private readonly CpuVectorIsa _isa;
    private readonly long _workspaceFloatBudget;

    /// <summary>
    /// A backend whose kernels use <paramref name="isa"/>, splitting tokens into ranges whose per-pair rows fit
    /// <paramref name="workspaceFloatBudget"/> floats (tests force the lower levels and tiny ranges).
    /// </summary>
    public CpuMoeBackend(CpuVectorIsa isa, long workspaceFloatBudget = WorkspaceFloatBudget)
    {
        if (!CpuVectorIsaSelector.IsSupported(isa))
        {
            throw new NotSupportedException($"This CPU does not support the {isa} kernels; the best it supports is {CpuVectorIsaSelector.Best}.");
        }
        _isa = isa;
        _workspaceFloatBudget = workspaceFloatBudget;
    }

    /// <summary>The backend with the best kernels of this machine.</summary>
    public static CpuMoeBackend Instance { get; } = new(CpuVectorIsaSelector.Best);

    public string Name => "cpu";

    public string? WhyNotSupported(MoeProblem problem) =>
        problem.Device.type == DeviceType.CPU ? null : $"The CPU backend needs host tensors; got tensors on {problem.Device}.";

    public void Run(MoeProblem problem, Tensor output)
    {
        var call = new CpuMoeCall(problem, output, _isa);
        long floatsPerToken = CpuPairWorkspace.FloatsPerSlot(call.Hidden, call.Intermediate) * call.TopK;
        int tokensPerRange = (int)Math.Clamp(_workspaceFloatBudget / floatsPerToken, 1, Math.Max(1, call.Tokens));
        for (int first = 0; first < call.Tokens; first += tokensPerRange)
        {
            var plan = CpuRoutingPlan.Build(call, first, Math.Min(tokensPerRange, call.Tokens - first));
            using var workspace = new CpuPairWorkspace(plan.SlotCount, call.Hidden, call.Intermediate);
            CpuInputStage.Run(call, plan, workspace);
            CpuFc1Stage.Run(call, plan, workspace);
            CpuFc2Stage.Run(call, plan, workspace);
            CpuCombineStage.Run(call, plan, workspace);
        }
    }
}
