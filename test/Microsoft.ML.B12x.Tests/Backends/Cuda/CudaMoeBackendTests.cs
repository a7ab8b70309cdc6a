using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.B12x.Backends;
using Microsoft.ML.B12x.Backends.Cuda;
using Microsoft.ML.B12x.Backends.Cuda.Interop;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Backends.Cuda;

/// <summary>
/// The CUDA backend against the CPU backend over a matrix of small shapes, every mode and every forced kernel
/// strategy, with the contract's CUDA rule; the number of intermediate FP4 codes that differ from the oracle's is
/// printed for NVFP4 cases.
/// </summary>
[TestClass]
[RequiresCuda]
public sealed class CudaMoeBackendTests
{
    private const int MatrixSeed = 20261129;

    public TestContext TestContext { get; set; } = null!;

    /// <summary>
    /// 48 cases of <see cref="CaseMatrix"/>: H and I from {16, 48, 64, 144, 256} (144: 9 blocks, a K tail and padded
    /// swizzle columns), E in {1, 3, 8, 33}, K in {1, 2, 4, 8} (K > E repeats experts within a token), T in
    /// {0, 1, 5, 17, 70}.
    /// </summary>
    public static IEnumerable<object[]> Matrix() => CaseMatrix.Generate(
        MatrixSeed, 48, sizes: new[] { 16, 48, 64, 144, 256 }, experts: new[] { 1, 3, 8, 33 }, topKs: new[] { 1, 2, 4, 8 },
        tokens: new[] { 0, 1, 5, 17, 70 });

    [TestMethod]
    [DynamicData(nameof(Matrix))]
    public void EveryStrategyMatchesTheCpuBackendWithinTheContractRule(MoeCaseSpec spec)
    {
        MoeCaseData data = MoeCaseGenerator.Create(spec);
        ushort[] cpu = MoeCaseRunner.Run(data);
        byte[]? oracleCodes = data.Nvfp4 ? new byte[data.Tokens * data.TopK * data.Intermediate / 2] : null;
        ReferenceMoe.Run(data, intermediateCodes: oracleCodes);
        foreach (KernelStrategy strategy in new[] { KernelStrategy.Auto, KernelStrategy.Micro, KernelStrategy.Static, KernelStrategy.Dynamic })
        {
            using var scope = NewDisposeScope();
            MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(data), strategy);
            ushort[] cuda = MoeTensors.Bits(t.Call().cpu());
            CudaTolerance.Result r = CudaTolerance.AssertWithin(cpu, cuda, data.Hidden, $"{spec} {strategy}");
            string codes = oracleCodes is null ? "" : $", intermediate codes differing from the oracle: {DifferingCodes(t, oracleCodes)}";
            TestContext.WriteLine($"{spec} {strategy}: {r}{codes}");
        }
    }

    [TestMethod]
    [DynamicData(nameof(Matrix))]
    public void ReferenceKernelsMatchTheCpuBackendWithinTheContractRule(MoeCaseSpec spec)
    {
        MoeCaseData data = MoeCaseGenerator.Create(spec);
        ushort[] cpu = MoeCaseRunner.Run(data);
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(data), reference: true);
        ushort[] cuda = MoeTensors.Bits(t.Call().cpu());
        CudaTolerance.Result r = CudaTolerance.AssertWithin(cpu, cuda, data.Hidden, $"{spec} reference");
        TestContext.WriteLine($"{spec} reference kernels: {r}");
    }

    [TestMethod]
    [DataRow(160, 96, MoeActivation.Silu)]
    [DataRow(96, 160, MoeActivation.Silu)]
    [DataRow(160, 96, MoeActivation.Relu2)]
    public void DynamicLayersWithRowsOffTheScaleTilesMatchTheCpuBackend(int hidden, int intermediate, MoeActivation activation)
    {
        // I = 96: the gate rows start 96 rows into a 128-row tile of the swizzled scales, so a row tile's gate scales
        // come from two tiles; 160 = 2.5 K steps of 64, a K tail; H = 96 puts the second half of FC2's 256-row work items
        // wholly past the matrix and its scales.
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(300, hidden, intermediate, 4, 2, Activation: activation, Seed: 13));
        ushort[] cpu = MoeCaseRunner.Run(data);
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(data), KernelStrategy.Dynamic);
        CudaTolerance.Result r = CudaTolerance.AssertWithin(cpu, MoeTensors.Bits(t.Call().cpu()), data.Hidden, $"H={hidden} I={intermediate} {activation}");
        TestContext.WriteLine(r.ToString());
    }

    [TestMethod]
    [DataRow(KernelStrategy.Micro)]
    [DataRow(KernelStrategy.Static)]
    [DataRow(KernelStrategy.Dynamic)]
    public void ThreeRunsGiveIdenticalBits(KernelStrategy strategy)
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(40, 256, 144, 16, 4, Seed: 7));
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(data), strategy);
        ushort[] first = MoeTensors.Bits(t.Call().cpu());
        for (int run = 0; run < 2; run++)
        {
            BitAssert.Equal(first, MoeTensors.Bits(t.Call().cpu()), data.Hidden, $"{strategy} run {run + 2}");
        }
    }

    [TestMethod]
    [DataRow(KernelStrategy.Micro)]
    [DataRow(KernelStrategy.Static)]
    [DataRow(KernelStrategy.Dynamic)]
    public void EachTokenGetsTheSameBitsAloneAsInABatchOfTheSameStrategy(KernelStrategy strategy)
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(9, 128, 64, 8, 2, Seed: 11));
        using var scope = NewDisposeScope();
        AssertEachTokenGetsItsBitsAlone(data, strategy, RunOnCuda(data, strategy), Enumerable.Range(0, data.Tokens));
    }

    [TestMethod]
    [DataRow(MoeActivation.Silu)]
    [DataRow(MoeActivation.Relu2)]
    public void DynamicTokensGetTheSameBitsInFullTokenTilesAsAlone(MoeActivation activation)
    {
        // 700 tokens on 2 experts: each expert fills several full token tiles of the dynamic kernels (128 tokens,
        // the widest MMA they issue) plus a partial one, while a token alone is a one-token tile.
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(700, 128, 64, 2, 1, Activation: activation, InvalidIdRate: 0, Seed: 12));
        using var scope = NewDisposeScope();
        AssertEachTokenGetsItsBitsAlone(data, KernelStrategy.Dynamic, RunOnCuda(data, KernelStrategy.Dynamic), new[] { 0, 127, 255, 256, 400, 511, 699 });
    }

    [TestMethod]
    [DataRow(MoeActivation.Silu, ScaleLayout.Swizzled128x4)]
    [DataRow(MoeActivation.Relu2, ScaleLayout.Linear)]
    public void StaticTokensGetTheSameBitsInSixteenTokenTilesAsAlone(MoeActivation activation, ScaleLayout layout)
    {
        // 60 tokens x 2 pairs on 8 experts: 15 pairs per expert on average, so the static strategy's narrow NVFP4
        // kernels take 16-token tiles (two 8-token MMA tiles) and experts with more pairs fill a tile and start
        // another, while a token alone is a one-slot 8-token tile. H = 704 and I = 192 end in half a 128-element slab.
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(60, 704, 192, 8, 2, Activation: activation, Layout: layout, InvalidIdRate: 0, Seed: 31));
        using var scope = NewDisposeScope();
        ushort[] batched = RunOnCuda(data, KernelStrategy.Static);
        CudaTolerance.AssertWithin(MoeCaseRunner.Run(data), batched, data.Hidden, $"{activation} {layout} against the CPU backend");
        AssertEachTokenGetsItsBitsAlone(data, KernelStrategy.Static, batched, new[] { 0, 17, 33, 59 });
    }

    [TestMethod]
    [DataRow(KernelStrategy.Static, 300)]
    [DataRow(KernelStrategy.Dynamic, 8)]
    public void TokensOfACallOfMoreThan4096PairsGetTheSameBitsAsAlone(KernelStrategy strategy, int experts)
    {
        // 2,100 tokens x 2 pairs: the routing takes its three grid-wide kernels (one CTA routes at most 4,096 pairs),
        // while a token alone is routed by the one-CTA kernel; both must give every token the same tiles' work.
        // Static on 300 experts: 14 pairs per expert, within the narrow kernels' bound like a token alone.
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(2100, 128, 64, experts, 2, InvalidIdRate: 0.05, Seed: 37));
        using var scope = NewDisposeScope();
        AssertEachTokenGetsItsBitsAlone(data, strategy, RunOnCuda(data, strategy), new[] { 0, 511, 1024, 2047, 2048, 2099 });
    }

    [TestMethod]
    [DataRow(KernelStrategy.Static)]
    [DataRow(KernelStrategy.Dynamic)]
    public void MoreLocalExpertsThanOneRoutingCtaCountsMatchTheCpuBackendWithinTheContractRule(KernelStrategy strategy)
    {
        // 4,100 local experts: more than the one-CTA routing keeps counters for in shared memory (4,096), so even a
        // decode-sized call takes the three routing kernels; H = 128 and I = 64 let the static strategy's narrow kernels
        // take it.
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(12, 128, 64, 4100, 2, Seed: 43));
        using var scope = NewDisposeScope();
        CudaTolerance.Result r = CudaTolerance.AssertWithin(MoeCaseRunner.Run(data), RunOnCuda(data, strategy), data.Hidden, $"{strategy}, 4,100 experts");
        TestContext.WriteLine($"{strategy}: {r}");
    }

    [TestMethod]
    [DataRow(256)]
    [DataRow(144)]
    public void DynamicTokensWithOneInputScaleGetTheBitsOfThatScaleRepeatedPerExpert(int hidden)
    {
        // With one input_global_scale for every expert, the sm_90a dynamic path quantises each token once for its K
        // pairs instead of once per pair; the pairs of an expert-parallel rank (invalid and remote ids mixed in) must
        // still get exactly the values the per-expert path gives them. H = 144 ends in a padded 64-element K step.
        if (NativeProxy.QueryDevice(CudaMoeBackend.CurrentDeviceIndex()).ComputeCapability / 10 != 9)
        {
            Assert.Inconclusive("Only the sm_90a kernels quantise per token; elsewhere both runs take the per-pair path.");
        }
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(300, hidden, 128, 16, 4, LocalExperts: 12, LocalOffset: 2, Seed: 29));
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(data), KernelStrategy.Dynamic);
        Tensor scales = t.Options.InputGlobalScale!;
        float value = scales[0].item<float>();
        Tensor shared = full(1, value, ScalarType.Float32, scales.device);
        Tensor repeated = full(scales.shape[0], value, ScalarType.Float32, scales.device);

        ushort[] once = MoeTensors.Bits((t with { Options = t.Options with { InputGlobalScale = shared } }).Call().cpu());
        ushort[] perExpert = MoeTensors.Bits((t with { Options = t.Options with { InputGlobalScale = repeated } }).Call().cpu());
        BitAssert.Equal(perExpert, once, data.Hidden, $"H={hidden}: input_global_scale [1] against [E] of the same value");
    }

    [TestMethod]
    [DataRow(KernelStrategy.Static, 8)]
    [DataRow(KernelStrategy.Dynamic, 4)]
    public void ABatchRunInOneTokenChunksGetsTheBitsOfOneCall(KernelStrategy strategy, int experts)
    {
        // A workspace limit of one byte makes every token its own native call, with the strategy of the whole batch.
        // Static: 10 pairs per expert, so the whole batch takes the narrow kernels, as every one-token chunk does
        // (beyond 16 the whole batch would take other kernels, which add blocks in another order: docs/kernels.md).
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(40, 128, 64, experts, 2, Seed: 14));
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(data), strategy);
        using MoeProblem problem = ProblemOf(t);
        Tensor whole = empty(new long[] { problem.Tokens, problem.Hidden }, ScalarType.BFloat16, problem.Device);
        Tensor chunked = empty(new long[] { problem.Tokens, problem.Hidden }, ScalarType.BFloat16, problem.Device);
        CudaMoeBackend.Instance.Run(problem, whole);
        CudaMoeBackend.Instance.Run(problem, chunked, workspaceLimitBytes: 1);
        BitAssert.Equal(MoeTensors.Bits(whole.cpu()), MoeTensors.Bits(chunked.cpu()), data.Hidden, $"{strategy}");
    }

    [TestMethod]
    [DataRow(1, KernelStrategy.Micro)]
    [DataRow(9, KernelStrategy.Static)]
    [DataRow(700, KernelStrategy.Dynamic)]
    public void TheSupportCheckPlansTheWorkspaceOfTheStrategyItResolves(int tokens, KernelStrategy expected)
    {
        // A call runs with the plan its support check made under Auto and forces the strategy that plan resolved, so
        // that plan's workspace must be what the forced strategy needs.
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(tokens, 128, 64, 8, 2, Seed: 15));
        using var scope = NewDisposeScope();
        using MoeProblem auto = ProblemOf(CudaTestEnvironment.OnCuda(MoeTensors.From(data)));
        using MoeProblem forced = ProblemOf(CudaTestEnvironment.OnCuda(MoeTensors.From(data), expected));
        Tensor output = empty(new long[] { tokens, data.Hidden }, ScalarType.BFloat16, auto.Device);

        Assert.IsNull(CudaMoeBackend.Instance.WhyNotSupported(auto, out CudaMoeCall call));

        Assert.AreEqual(expected.ToString(), call.Strategy.ToString());
        Assert.AreEqual(expected, CudaMoeBackend.ResolvedStrategy(forced, output));
        Assert.AreEqual(CudaMoeBackend.WorkspaceBytes(forced, output), call.WorkspaceBytes);
    }

    [TestMethod]
    public void ZeroTokensGiveAnEmptyOutput()
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(0, 64, 32, 4, 2));
        using var scope = NewDisposeScope();
        Tensor output = CudaTestEnvironment.OnCuda(MoeTensors.From(data)).Call();
        CollectionAssert.AreEqual(new long[] { 0, 64 }, output.shape);
        Assert.AreEqual(DeviceType.CUDA, output.device_type);
    }

    // I = 64 takes the micro NVFP4 kernels, I = 32 the other micro kernels.
    [TestMethod]
    [DataRow(KernelStrategy.Micro, 32)]
    [DataRow(KernelStrategy.Micro, 64)]
    [DataRow(KernelStrategy.Static, 32)]
    [DataRow(KernelStrategy.Dynamic, 32)]
    public void TokensWhoseIdsAreAllInvalidGetZeroRows(KernelStrategy strategy, int intermediate)
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(6, 64, intermediate, 4, 2, InvalidIdRate: 0));
        long[] ids = (long[])data.Ids.Clone();
        ids[2 * 2] = -1; ids[2 * 2 + 1] = 4;                   // token 2: negative and >= E
        ids[5 * 2] = 1L << 40; ids[5 * 2 + 1] = (1L << 40) + 1; // token 5: int64 ids that alias valid ones if truncated
        MoeCaseData invalid = data.With(ids: ids, ids64: true);
        using var scope = NewDisposeScope();
        ushort[] output = MoeTensors.Bits(CudaTestEnvironment.OnCuda(MoeTensors.From(invalid), strategy).Call().cpu());
        foreach (int token in new[] { 2, 5 })
        {
            for (int h = 0; h < data.Hidden; h++)
            {
                Assert.AreEqual((ushort)0, output[token * data.Hidden + h], $"token {token} feature {h} ({strategy})");
            }
        }
        CudaTolerance.AssertWithin(MoeCaseRunner.Run(invalid), output, data.Hidden, strategy.ToString());
    }

    [TestMethod]
    [DataRow(KernelStrategy.Micro, 32)]
    [DataRow(KernelStrategy.Micro, 64)]
    [DataRow(KernelStrategy.Static, 64)]
    [DataRow(KernelStrategy.Dynamic, 64)]
    public void ACallWithoutLocalPairsGivesZeroRowsOverAnOutputOfOtherValues(KernelStrategy strategy, int intermediate)
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(3, 128, intermediate, 8, 2, LocalExperts: 4, LocalOffset: 4, InvalidIdRate: 0));
        long[] ids = data.Ids.Select(id => id % 4).ToArray();  // every pair on experts 0..3, none of this rank's
        MoeCaseData elsewhere = data.With(ids: ids, ids64: true);
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(elsewhere), strategy);
        Tensor output = torch.full(data.Tokens, data.Hidden, 1.0f, dtype: ScalarType.BFloat16, device: t.X.device);
        (t with { Options = t.Options with { Output = output } }).Call();
        ushort[] bits = MoeTensors.Bits(output.cpu());
        Assert.IsTrue(bits.All(b => b == 0), $"every output bit pattern is +0 ({strategy}, I = {intermediate})");
    }

    [TestMethod]
    [DataRow(KernelStrategy.Micro, 32)]
    [DataRow(KernelStrategy.Micro, 64)]
    [DataRow(KernelStrategy.Static, 32)]
    [DataRow(KernelStrategy.Dynamic, 32)]
    public void RowsWithNonFiniteInputBecomeNaNRowsWithoutTouchingOthers(KernelStrategy strategy, int intermediate)
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(4, 64, intermediate, 4, 2, InvalidIdRate: 0));
        ushort[] x = (ushort[])data.X.Clone();
        x[1 * 64 + 3] = 0x7FC0;  // NaN in token 1
        x[3 * 64 + 60] = 0xFF80; // -Inf in token 3
        MoeCaseData nonFinite = data.With(x: x);
        using var scope = NewDisposeScope();
        ushort[] output = MoeTensors.Bits(CudaTestEnvironment.OnCuda(MoeTensors.From(nonFinite), strategy).Call().cpu());
        for (int h = 0; h < 64; h++)
        {
            Assert.IsTrue(BitAssert.IsNaN(output[64 + h]) && BitAssert.IsNaN(output[3 * 64 + h]), $"feature {h} ({strategy})");
        }
        CudaTolerance.AssertWithin(MoeCaseRunner.Run(nonFinite), output, 64, strategy.ToString());
    }

    [TestMethod]
    public void CpuTensorsWithDeviceCudaRunOnTheGpuAndComeBackToTheCpu()
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(5, 128, 64, 8, 2, Seed: 3));
        using var scope = NewDisposeScope();
        MoeTensors host = MoeTensors.From(data);
        Tensor output = (host with { Options = host.Options with { Device = ComputeDevice.Cuda } }).Call();
        Assert.AreEqual(DeviceType.CPU, output.device_type);
        ushort[] onGpu = MoeTensors.Bits(CudaTestEnvironment.OnCuda(host).Call().cpu());
        BitAssert.Equal(onGpu, MoeTensors.Bits(output), data.Hidden, "uploaded vs resident");
    }

    [TestMethod]
    public void ActivationQuantizerIsBitIdenticalToTheCpuQuantizer()
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(97, 256, 16, 1, 1, Seed: 5));
        using var scope = NewDisposeScope();
        MoeTensors host = MoeTensors.From(data);
        foreach (float gs in new[] { 1f, 3.7e-4f, 2.9e-6f, 41f })
        {
            var cpu = Microsoft.ML.B12x.Quantization.Nvfp4Quantizer.QuantizeActivations(host.X, gs);
            var (codes, scales) = CudaActivationQuantizer.Quantize(host.X.to(CudaTestEnvironment.Device), tensor(new[] { gs }).to(CudaTestEnvironment.Device));
            CollectionAssert.AreEqual(Bytes(cpu.Codes), Bytes(codes.cpu()), $"codes, gs {gs}");
            CollectionAssert.AreEqual(Bytes(cpu.Scales), Bytes(scales.cpu()), $"scale bytes, gs {gs}");
        }
    }

    // Alone: free device memory is the whole process's, and tests of other classes allocate in parallel (a full run on
    // an H200 once saw 96 MiB go to them between the two readings).
    [TestMethod]
    [DoNotParallelize]
    public void GpuMemoryDoesNotGrowOverAThousandCalls()
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(20, 256, 128, 16, 4, Seed: 9));
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(data));
        for (int i = 0; i < 20; i++)
        {
            t.Call().Dispose();
        }
        cuda.synchronize(CudaTestEnvironment.Device);
        long before = CudaSupport.DeviceMemory().FreeBytes;
        for (int i = 0; i < 1000; i++)
        {
            t.Call().Dispose();
        }
        cuda.synchronize(CudaTestEnvironment.Device);
        long after = CudaSupport.DeviceMemory().FreeBytes;
        TestContext.WriteLine($"free device memory before {before}, after 1000 calls {after}");
        Assert.IsGreaterThanOrEqualTo(before, after, "free device memory after 1000 calls");
    }

    private static MoeProblem ProblemOf(MoeTensors t) => MoeProblem.Create(
        t.X, t.W1Weight, t.W1WeightSf, t.W2Weight, t.W2WeightSf, t.TokenSelectedExperts, t.TokenFinalScales,
        t.NumExperts, t.TopK, t.W1Alpha, t.W2Alpha, t.Options);

    private static byte[] Bytes(Tensor t) => TorchSharp.TensorPointers.HostSpan<byte>(t.contiguous()).ToArray();

    private static int DifferingCodes(MoeTensors t, byte[] oracleCodes)
    {
        using MoeProblem problem = ProblemOf(t);
        using Tensor output = empty(new long[] { problem.Tokens, problem.Hidden }, ScalarType.BFloat16, problem.Device);
        using Tensor codes = CudaMoeBackend.RunAndExportIntermediateCodes(problem, output).cpu();
        ReadOnlySpan<byte> gpu = TorchSharp.TensorPointers.HostSpan<byte>(codes);
        int differing = 0;
        for (int i = 0; i < oracleCodes.Length; i++)
        {
            differing += ((gpu[i] ^ oracleCodes[i]) & 0x0F) != 0 ? 1 : 0;
            differing += ((gpu[i] ^ oracleCodes[i]) & 0xF0) != 0 ? 1 : 0;
        }
        return differing;
    }

    /// <summary>The call's output bits on CUDA with <paramref name="strategy"/>.</summary>
    private static ushort[] RunOnCuda(MoeCaseData data, KernelStrategy strategy) =>
        MoeTensors.Bits(CudaTestEnvironment.OnCuda(MoeTensors.From(data), strategy).Call().cpu());

    /// <summary>Runs each of <paramref name="tokens"/> alone with <paramref name="strategy"/> and asserts that its row of
    /// <paramref name="batched"/> has the same bits.</summary>
    private static void AssertEachTokenGetsItsBitsAlone(MoeCaseData data, KernelStrategy strategy, ushort[] batched, IEnumerable<int> tokens)
    {
        foreach (int token in tokens)
        {
            BitAssert.Equal(batched.AsSpan(token * data.Hidden, data.Hidden).ToArray(), RunOnCuda(data.Slice(token, 1), strategy), data.Hidden,
                $"token {token} ({strategy})");
        }
    }
}
