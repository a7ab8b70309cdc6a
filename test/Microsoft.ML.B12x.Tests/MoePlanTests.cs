using System;
using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests;

/// <summary>The call plan: static buffers and, on CUDA, one captured graph per token count, equal to plain calls.</summary>
[TestClass]
public sealed class MoePlanTests
{
    [TestMethod]
    public void CpuPlanGivesTheBitsOfPlainCallsForEveryBatchSize()
    {
        MlNetCase c = MlNetCase.Create(tokens: 9);
        using MoeWeights weights = c.Weights();
        using MoePlan plan = MoePlan.Create(weights, maxTokens: 9);
        foreach (int tokens in new[] { 1, 9, 4, 1 })
        {
            MoeCaseData part = c.Data.Slice(0, tokens);
            using var scope = NewDisposeScope();
            MoeTensors t = MoeTensors.From(part);
            Tensor result = plan.Run(t.X, t.TokenSelectedExperts, t.TokenFinalScales);
            BitAssert.Equal(MoeCaseRunner.Run(part), MoeTensors.Bits(result), MlNetCase.Hidden, $"T={tokens}");
        }
    }

    [TestMethod]
    public void ABatchLargerThanThePlanIsRejected()
    {
        MlNetCase c = MlNetCase.Create(tokens: 5);
        using MoeWeights weights = c.Weights();
        using MoePlan plan = MoePlan.Create(weights, maxTokens: 4);
        using var scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(c.Data);
        var error = Assert.ThrowsExactly<ArgumentException>(() => plan.Run(t.X, t.TokenSelectedExperts, t.TokenFinalScales));
        Assert.AreEqual("x", error.ParamName);
        StringAssert.Contains(error.Message, "at most 4");
    }

    [TestMethod]
    public void MaxTokensBelowOneIsRejected()
    {
        using MoeWeights weights = MlNetCase.Create(tokens: 1).Weights();
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MoePlan.Create(weights, maxTokens: 0));
        Assert.AreEqual("maxTokens", error.ParamName);
    }

    [TestMethod]
    [RequiresCuda]
    public void CudaGraphReplaysGiveTheBitsOfPlainCallsWithNewInputs()
    {
        Device device = CudaTestEnvironment.Device;
        MlNetCase c = MlNetCase.Create(tokens: 40, seed: 5);
        using MoeWeights host = c.Weights();
        using MoeWeights weights = host.To(device);
        foreach (KernelStrategy strategy in new[] { KernelStrategy.Micro, KernelStrategy.Static, KernelStrategy.Dynamic })
        {
            using MoePlan plan = MoePlan.Create(weights, maxTokens: 40, strategy: strategy);
            foreach (int first in new[] { 0, 7, 20 })  // the same token count with different inputs replays one graph
            {
                MoeCaseData part = c.Data.Slice(first, 3);
                using var scope = NewDisposeScope();
                MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(part), strategy);
                ushort[] expected = MoeTensors.Bits(t.Call().cpu());
                ushort[] replayed = MoeTensors.Bits(plan.Run(t.X, t.TokenSelectedExperts, t.TokenFinalScales).cpu());
                BitAssert.Equal(expected, replayed, MlNetCase.Hidden, $"{strategy}, tokens {first}..{first + 2}");
            }
            Assert.AreEqual(1, plan.CapturedGraphs, strategy.ToString());
        }
    }

    [TestMethod]
    [RequiresCuda]
    public void AnAutoCudaPlanRunsEveryBatchUpToItsMaximumWithTheBitsOfPlainCalls()
    {
        // K = 2 and H, I multiples of 64: batches up to 8 resolve to the micro strategy, whose fp16 token rows need
        // more workspace at T = 8 than the static strategy needs at T = 9, the plan's maximum.
        int graphs = AssertAutoPlanGivesTheBitsOfPlainCalls(new MoeCaseSpec(9, 128, 64, 8, 2, Seed: 19), 9, 8, 1);
        Assert.AreEqual(3, graphs);
    }

    [TestMethod]
    [RequiresCuda]
    public void AnAutoCudaPlanRunsBothSidesOfTheStaticToDynamicCutOverWithTheBitsOfPlainCalls()
    {
        // K = 8: Auto runs T = 80 (640 pairs, StaticMaxPairs) static and T = 81 dynamic; the plan's workspace must
        // serve both, and T = 5, the last micro batch.
        AssertAutoPlanGivesTheBitsOfPlainCalls(new MoeCaseSpec(81, 128, 64, 64, 8, Seed: 21), 81, 80, 5);
    }

    /// <summary>Runs the first <paramref name="tokens"/> tokens of the case through an Auto plan on CUDA sized for the
    /// whole case and asserts each result has the bits of a plain call; returns the graphs the plan captured.</summary>
    private static int AssertAutoPlanGivesTheBitsOfPlainCalls(MoeCaseSpec spec, params int[] tokens)
    {
        MoeCaseData data = MoeCaseGenerator.Create(spec);
        using MoeWeights host = MoeCaseWeights.Create(data);
        using MoeWeights weights = host.To(CudaTestEnvironment.Device);
        using MoePlan plan = MoePlan.Create(weights, maxTokens: data.Tokens);
        foreach (int count in tokens)
        {
            MoeCaseData part = data.Slice(0, count);
            using var scope = NewDisposeScope();
            MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(part));
            ushort[] expected = MoeTensors.Bits(t.Call().cpu());
            ushort[] replayed = MoeTensors.Bits(plan.Run(t.X, t.TokenSelectedExperts, t.TokenFinalScales).cpu());
            BitAssert.Equal(expected, replayed, data.Hidden, $"T={count}");
        }
        return plan.CapturedGraphs;
    }
}
