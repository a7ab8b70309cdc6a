using Microsoft.ML.B12x.Backends;
using Microsoft.ML.B12x.Backends.Cpu;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>Runs a <see cref="MoeCaseData"/> through the library and returns the output bits.</summary>
internal static class MoeCaseRunner
{
    /// <summary>Through <see cref="B12xOps.FusedMoe"/> (the backend with this machine's best kernels).</summary>
    public static ushort[] Run(MoeCaseData c, int? threads = null, bool float8Scales = false)
    {
        using var scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(c, float8Scales);
        t = t with { Options = t.Options with { CpuThreads = threads } };
        return MoeTensors.Bits(t.Call());
    }

    /// <summary>
    /// Straight into the CPU backend with the kernels of <paramref name="isa"/>, optionally with a workspace budget
    /// small enough to split the tokens into ranges.
    /// </summary>
    public static ushort[] Run(MoeCaseData c, CpuVectorIsa isa, int? threads = null, long? workspaceFloatBudget = null)
    {
        using var scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(c);
        using MoeProblem problem = MoeProblem.Create(
            t.X, t.W1Weight, t.W1WeightSf, t.W2Weight, t.W2WeightSf, t.TokenSelectedExperts, t.TokenFinalScales,
            t.NumExperts, t.TopK, t.W1Alpha, t.W2Alpha, t.Options with { CpuThreads = threads });
        Tensor output = zeros(new long[] { c.Tokens, c.Hidden }, ScalarType.BFloat16);
        if (c.Tokens > 0)
        {
            (workspaceFloatBudget is null ? new CpuMoeBackend(isa) : new CpuMoeBackend(isa, workspaceFloatBudget.Value)).Run(problem, output);
        }
        return MoeTensors.Bits(output);
    }
}
