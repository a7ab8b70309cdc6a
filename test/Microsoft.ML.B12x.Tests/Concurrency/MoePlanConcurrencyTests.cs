using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Concurrency;

/// <summary>
/// <see cref="MoePlan"/> is not thread-safe, but "calls on different plans may run concurrently": one plan per thread
/// over one set of weights, each running batches of every size, gives the bits of plain calls.
/// </summary>
[TestClass]
public sealed class MoePlanConcurrencyTests
{
    private const int Threads = 6;
    private const int MaxTokens = 9;

    [TestMethod]
    public void APlanPerThreadOverSharedWeightsGivesTheBitsOfPlainCalls()
    {
        MlNetCase c = MlNetCase.Create(tokens: MaxTokens * Threads, seed: 95);
        using MoeWeights weights = c.Weights();
        Run(c, weights);
    }

    [TestMethod]
    [RequiresCuda]
    public void APlanPerThreadOverSharedWeightsOnOneGpuGivesTheBitsOfPlainCalls()
    {
        MlNetCase c = MlNetCase.Create(tokens: MaxTokens * Threads, seed: 96);
        using MoeWeights host = c.Weights();
        using MoeWeights weights = host.To(CudaTestEnvironment.Device);
        Run(c, weights);
    }

    /// <summary>
    /// Thread t runs batches of its own 9 tokens (sizes 1 to 9, then 9 to 1) through its own plan; the expected bits
    /// are plain calls on the same weights' device and strategy, made serially first.
    /// </summary>
    private static void Run(MlNetCase c, MoeWeights weights)
    {
        int[] sizes = [.. Enumerable.Range(1, MaxTokens), .. Enumerable.Range(1, MaxTokens).Reverse()];
        MoeCaseData[][] batches = Enumerable.Range(0, Threads)
            .Select(t => sizes.Select(n => c.Data.Slice(t * MaxTokens, n)).ToArray())
            .ToArray();
        ushort[][][] expected = batches.Select(thread => thread.Select(b => Plain(weights, b)).ToArray()).ToArray();
        MoePlan[] plans = Enumerable.Range(0, Threads).Select(_ => MoePlan.Create(weights, MaxTokens)).ToArray();
        try
        {
            ThreadsTogether.Run(Threads, thread =>
            {
                for (int i = 0; i < sizes.Length; i++)
                {
                    using var scope = NewDisposeScope();
                    MoeTensors t = MoeTensors.From(batches[thread][i]);
                    ushort[] actual = MoeTensors.Bits(plans[thread].Run(t.X, t.TokenSelectedExperts, t.TokenFinalScales).cpu());
                    if (BitAssert.FirstDifference(expected[thread][i], actual, MlNetCase.Hidden, $"thread {thread}, batch of {sizes[i]}") is string failure)
                    {
                        return failure;
                    }
                }
                return null;
            });
        }
        finally
        {
            foreach (MoePlan plan in plans)
            {
                plan.Dispose();
            }
        }
    }

    /// <summary>One plain call of a batch with the weights' tensors, on their device.</summary>
    private static ushort[] Plain(MoeWeights weights, MoeCaseData batch)
    {
        using var scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(batch);
        Device device = weights.Device;
        ComputeDevice where = device.type == DeviceType.CUDA ? ComputeDevice.Cuda : ComputeDevice.Cpu;
        return MoeTensors.Bits(B12xOps.FusedMoe(
            t.X.to(device), weights.W1Weight, weights.W1WeightSf, weights.W2Weight, weights.W2WeightSf, t.TokenSelectedExperts.to(device),
            t.TokenFinalScales.to(device), weights.Config.NumExperts, batch.TopK, weights.W1Alpha, weights.W2Alpha,
            weights.CreateOptions(device: where)).cpu());
    }
}
