using System;
using Microsoft.ML.B12x.Backends.Cpu;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Backends.Cpu;

/// <summary>The CPU backend gives the same bits on reruns, for any thread count, any batch and any token split.</summary>
[TestClass]
public sealed class CpuMoeBackendInvarianceTests
{
    private static MoeCaseData Case(MoeQuantMode mode, MoeActivation activation = MoeActivation.Silu, int tokens = 17) =>
        MoeCaseGenerator.Create(new MoeCaseSpec(
            Tokens: tokens, Hidden: 144, Intermediate: 96, Experts: 8, TopK: 4, Activation: activation, QuantMode: mode,
            Seed: 77 + (int)mode));

    [TestMethod]
    [DataRow(MoeQuantMode.Nvfp4)]
    [DataRow(MoeQuantMode.W4A16)]
    public void RerunGivesTheSameBits(MoeQuantMode mode)
    {
        MoeCaseData data = Case(mode);
        ushort[] first = MoeCaseRunner.Run(data);
        BitAssert.Equal(first, MoeCaseRunner.Run(data), data.Hidden, "second run");
        BitAssert.Equal(first, MoeCaseRunner.Run(data), data.Hidden, "third run");
    }

    [TestMethod]
    [DataRow(MoeQuantMode.Nvfp4)]
    [DataRow(MoeQuantMode.W4A16)]
    public void ThreadCountDoesNotChangeTheBits(MoeQuantMode mode)
    {
        MoeCaseData data = Case(mode);
        ushort[] single = MoeCaseRunner.Run(data, threads: 1);
        BitAssert.Equal(single, MoeCaseRunner.Run(data, threads: 2), data.Hidden, "2 threads");
        BitAssert.Equal(single, MoeCaseRunner.Run(data, threads: 7), data.Hidden, "7 threads");
        BitAssert.Equal(single, MoeCaseRunner.Run(data), data.Hidden, "default threads");
    }

    [TestMethod]
    [DataRow(MoeQuantMode.Nvfp4, MoeActivation.Silu)]
    [DataRow(MoeQuantMode.Nvfp4, MoeActivation.Relu2)]
    [DataRow(MoeQuantMode.W4A16, MoeActivation.Silu)]
    [DataRow(MoeQuantMode.W4A16, MoeActivation.Relu2)]
    public void OneCallOn17TokensEquals17OneTokenCalls(MoeQuantMode mode, MoeActivation activation)
    {
        MoeCaseData data = Case(mode, activation);
        ushort[] batched = MoeCaseRunner.Run(data);
        for (int t = 0; t < data.Tokens; t++)
        {
            ushort[] single = MoeCaseRunner.Run(data.Slice(t, 1));
            BitAssert.Equal(batched.AsSpan(t * data.Hidden, data.Hidden).ToArray(), single, data.Hidden, $"token {t}");
        }
    }

    [TestMethod]
    public void AnyBatchSplitGivesTheSameBits()
    {
        MoeCaseData data = Case(MoeQuantMode.Nvfp4);
        ushort[] batched = MoeCaseRunner.Run(data);
        int[] cuts = { 0, 3, 4, 11, 17 };
        for (int i = 0; i + 1 < cuts.Length; i++)
        {
            ushort[] part = MoeCaseRunner.Run(data.Slice(cuts[i], cuts[i + 1] - cuts[i]));
            BitAssert.Equal(batched.AsSpan(cuts[i] * data.Hidden, part.Length).ToArray(), part, data.Hidden, $"tokens [{cuts[i]}, {cuts[i + 1]})");
        }
    }

    [TestMethod]
    [DataRow(MoeQuantMode.Nvfp4)]
    [DataRow(MoeQuantMode.W4A16)]
    public void SplittingTokensIntoWorkspaceRangesDoesNotChangeTheBits(MoeQuantMode mode)
    {
        MoeCaseData data = Case(mode);
        ushort[] whole = MoeCaseRunner.Run(data, CpuVectorIsaSelector.Best);
        // One token's pairs need K·(2H + I) floats; budgets of 1 and 3 tokens force 17 and 6 ranges.
        long perToken = data.TopK * (2L * data.Hidden + data.Intermediate);
        BitAssert.Equal(whole, MoeCaseRunner.Run(data, CpuVectorIsaSelector.Best, workspaceFloatBudget: perToken), data.Hidden, "1-token ranges");
        BitAssert.Equal(whole, MoeCaseRunner.Run(data, CpuVectorIsaSelector.Best, workspaceFloatBudget: 3 * perToken), data.Hidden, "3-token ranges");
    }

    [TestMethod]
    public void ScalarKernelsGiveTheSameBitsAsTheBestOnesOnALargerLayer()
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(
            Tokens: 9, Hidden: 528, Intermediate: 272, Experts: 4, TopK: 2, Seed: 5));
        BitAssert.Equal(MoeCaseRunner.Run(data, CpuVectorIsa.Scalar), MoeCaseRunner.Run(data), data.Hidden, "scalar vs best");
    }
}
