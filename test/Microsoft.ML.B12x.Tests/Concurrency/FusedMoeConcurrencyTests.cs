using System;
using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Concurrency;

/// <summary>
/// <see cref="B12xOps.FusedMoe"/> called from many threads at once, sharing weight tensors: every call gets the bits
/// a serial call gets (the call is stateless, api.md "The functional call"), on the CPU backend and on one GPU.
/// </summary>
[TestClass]
public sealed class FusedMoeConcurrencyTests
{
    /// <summary>Threads started together; more than the CI machine's 2 cores, so calls interleave and preempt each other.</summary>
    private const int Threads = 8;

    /// <summary>Calls per thread.</summary>
    private const int CallsPerThread = 25;

    private static readonly MoeCaseSpec[] s_cases =
    [
        new(7, 64, 48, 8, 2, Seed: 31),
        new(3, 144, 32, 5, 3, MoeActivation.Relu2, Layout: ScaleLayout.Linear, Ids64: true, Seed: 32),
        new(9, 48, 64, 6, 2, QuantMode: MoeQuantMode.W4A16, SourceFormat: MoeSourceFormat.CompressedTensors, Scalars: ScalarShape.One, Seed: 33),
        new(5, 32, 16, 9, 4, WithInputGlobalScale: false, LocalExperts: 4, LocalOffset: 3, Scalars: ScalarShape.Local, Seed: 34),
        new(0, 32, 16, 3, 1, Seed: 35),
        new(17, 16, 16, 64, 8, MoeActivation.Relu2, MoeQuantMode.W4A16, Seed: 36),
    ];

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void ConcurrentCpuCallsGetTheBitsOfSerialCalls()
    {
        MoeCaseData[] cases = s_cases.Select(MoeCaseGenerator.Create).ToArray();
        ushort[][] serial = cases.Select(c => MoeCaseRunner.Run(c)).ToArray();
        using var scope = NewDisposeScope();
        MoeTensors[] shared = cases.Select(c => MoeTensors.From(c)).ToArray();

        int calls = RunTogether((thread, call) =>
        {
            int index = (thread + call) % cases.Length;
            int? cpuThreads = (thread + call) % 4 == 0 ? null : (thread + call) % 4;
            using var callScope = NewDisposeScope();
            MoeTensors t = shared[index] with { Options = shared[index].Options with { CpuThreads = cpuThreads } };
            return BitAssert.FirstDifference(serial[index], MoeTensors.Bits(t.Call()), cases[index].Hidden, $"thread {thread} call {call}: case {index} ({cases[index]}), CpuThreads {cpuThreads}");
        });
        TestContext.WriteLine($"{calls} concurrent calls on {Threads} threads matched the serial bits");
    }

    [TestMethod]
    public void ThreadsSharingOneLayerWithTheirOwnTokensAndOutputBuffersGetTheSerialBits()
    {
        MoeCaseData layer = MoeCaseGenerator.Create(new MoeCaseSpec(Threads * 3, 64, 32, 8, 2, Seed: 37));
        ushort[][] serial = Enumerable.Range(0, Threads).Select(t => MoeCaseRunner.Run(layer.Slice(3 * t, 3))).ToArray();
        using var scope = NewDisposeScope();
        MoeTensors weights = MoeTensors.From(layer);
        MoeTensors[] own = Enumerable.Range(0, Threads).Select(t => MoeTensors.From(layer.Slice(3 * t, 3))).ToArray();
        Tensor[] outputs = Enumerable.Range(0, Threads).Select(_ => empty(new long[] { 3, layer.Hidden }, ScalarType.BFloat16)).ToArray();

        RunTogether((thread, call) =>
        {
            // The layer's weight tensors (shared by every thread) with this thread's tokens, written into its own buffer.
            MoeTensors t = weights with
            {
                X = own[thread].X,
                TokenSelectedExperts = own[thread].TokenSelectedExperts,
                TokenFinalScales = own[thread].TokenFinalScales,
                Options = weights.Options with { Output = outputs[thread] },
            };
            using var callScope = NewDisposeScope();
            t.Call();
            return BitAssert.FirstDifference(serial[thread], MoeTensors.Bits(outputs[thread]), layer.Hidden, $"thread {thread} call {call}");
        });
    }

    [TestMethod]
    [RequiresCuda]
    public void ConcurrentCallsOnOneGpuGetTheBitsOfSerialCalls()
    {
        MoeCaseData[] cases = s_cases.Select(MoeCaseGenerator.Create).ToArray();
        KernelStrategy[] strategies = [KernelStrategy.Micro, KernelStrategy.Static, KernelStrategy.Dynamic];
        using var scope = NewDisposeScope();
        // Serial bits per (case, strategy): a CUDA run repeats its bits for the same inputs and strategy (semantics.md).
        MoeTensors[,] gpu = new MoeTensors[cases.Length, strategies.Length];
        ushort[,][] serial = new ushort[cases.Length, strategies.Length][];
        for (int c = 0; c < cases.Length; c++)
        {
            for (int s = 0; s < strategies.Length; s++)
            {
                gpu[c, s] = CudaTestEnvironment.OnCuda(MoeTensors.From(cases[c]), strategies[s]);
                serial[c, s] = MoeTensors.Bits(gpu[c, s].Call().cpu());
            }
        }

        int calls = RunTogether((thread, call) =>
        {
            int c = (thread + call) % cases.Length, s = (thread * 7 + call) % strategies.Length;
            using var callScope = NewDisposeScope();
            return BitAssert.FirstDifference(serial[c, s], MoeTensors.Bits(gpu[c, s].Call().cpu()), cases[c].Hidden, $"thread {thread} call {call}: case {c}, {strategies[s]}");
        });
        TestContext.WriteLine($"{calls} concurrent GPU calls on {Threads} threads matched the serial bits");
    }

    /// <summary>
    /// <see cref="Threads"/> threads started together, each making <see cref="CallsPerThread"/> calls of
    /// <paramref name="call"/>(thread, call index), which returns null or a failure; returns the number of calls.
    /// </summary>
    private static int RunTogether(Func<int, int, string?> call)
    {
        ThreadsTogether.Run(Threads, thread =>
        {
            for (int i = 0; i < CallsPerThread; i++)
            {
                if (call(thread, i) is string failure)
                {
                    return failure;
                }
            }
            return null;
        });
        return Threads * CallsPerThread;
    }
}
