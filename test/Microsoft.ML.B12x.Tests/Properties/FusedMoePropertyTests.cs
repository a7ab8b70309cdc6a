using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Properties;

/// <summary>
/// <see cref="B12xOps.FusedMoe"/> on random valid calls (<see cref="RandomMoeCase"/>): the CPU backend equals the
/// independent oracle bit for bit, and the CUDA backend stays within the contract's rule of the CPU backend and
/// repeats its own bits. The CI run also proves that its cases reach every listed regime.
/// </summary>
[TestClass]
public sealed class FusedMoePropertyTests
{
    /// <summary>CI cases of the CPU property: about 4 s on 2 cores (most cases are far below the size caps).</summary>
    private const int CpuCases = 400;

    private const int CpuSeed = 20270114;

    /// <summary>CI cases of the CUDA property: each runs the CPU backend and the GPU twice.</summary>
    private const int CudaCases = 120;

    private const int CudaSeed = 20270115;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void CpuBackendEqualsTheOracleBitForBitOnRandomCalls()
    {
        PropertyRun run = PropertyRun.Start(TestContext, nameof(CpuBackendEqualsTheOracleBitForBitOnRandomCalls), CpuCases, CpuSeed);
        var coverage = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < run.Cases; i++)
        {
            RandomMoeCase c = RandomMoeCase.Create(run.CaseSeed(i));
            string context = $"{run.Describe(i)}: {c}";
            foreach (string tag in Tags(c))
            {
                coverage[tag] = coverage.GetValueOrDefault(tag) + 1;
            }
            ushort[] expected = ReferenceMoe.Run(c.Data);
            using var scope = NewDisposeScope();
            MoeTensors t = c.Tensors();
            Tensor output = t.Call();
            if (t.Options.Output is not null)
            {
                Assert.AreSame(t.Options.Output, output, $"{context}: the given output buffer is returned");
            }
            CollectionAssert.AreEqual(new long[] { c.Data.Tokens, c.Data.Hidden }, output.shape, context);
            BitAssert.Equal(expected, MoeTensors.Bits(output), c.Data.Hidden, context);
        }
        TestContext.WriteLine("coverage: " + string.Join(", ", coverage.Select(p => $"{p.Key} {p.Value}")));
        if (run.Cases >= CpuCases)
        {
            string[] missing = s_allTags.Where(tag => !coverage.ContainsKey(tag)).ToArray();
            Assert.IsEmpty(missing, $"regimes no case reached: {string.Join(", ", missing)}");
        }
    }

    [TestMethod]
    [RequiresCuda]
    public void CudaBackendStaysWithinTheContractRuleOfTheCpuBackendAndRepeatsItsBitsOnRandomCalls()
    {
        PropertyRun run = PropertyRun.Start(
            TestContext, nameof(CudaBackendStaysWithinTheContractRuleOfTheCpuBackendAndRepeatsItsBitsOnRandomCalls), CudaCases, CudaSeed);
        int refused = 0;
        double worst = 0;
        for (int i = 0; i < run.Cases; i++)
        {
            RandomMoeCase c = RandomMoeCase.Create(run.CaseSeed(i));
            string context = $"{run.Describe(i)}: {c}";
            using var scope = NewDisposeScope();
            MoeTensors host = c.Tensors();
            ushort[] cpu = MoeTensors.Bits(host.Call());
            MoeTensors gpu = CudaTestEnvironment.OnCuda(host with { Options = host.Options with { Output = null } }, c.Strategy);
            if (c.OutputBuffer)
            {
                gpu = gpu with { Options = gpu.Options with { Output = full(new long[] { c.Data.Tokens, c.Data.Hidden }, float.NaN, ScalarType.BFloat16, gpu.X.device) } };
            }
            ushort[] first;
            try
            {
                first = MoeTensors.Bits(gpu.Call().cpu());
            }
            catch (NotSupportedException e)
            {
                // A backend limit (semantics.md: "a backend that needs more says so"); Device = Cuda must not fall back.
                Assert.IsFalse(string.IsNullOrWhiteSpace(e.Message), context);
                TestContext.WriteLine($"{context}: not supported on CUDA: {e.Message}");
                refused++;
                continue;
            }
            CudaTolerance.Result r = CudaTolerance.AssertWithin(cpu, first, c.Data.Hidden, context);
            worst = Math.Max(worst, r.RelativeL2);
            BitAssert.Equal(first, MoeTensors.Bits(gpu.Call().cpu()), c.Data.Hidden, $"{context}: second CUDA run");
        }
        TestContext.WriteLine($"worst relative L2 {worst:E2}; {refused} of {run.Cases} cases refused by the CUDA backend");
    }

    /// <summary>Every regime the generator promises; the CI run must reach each at least once.</summary>
    private static readonly string[] s_allTags =
    [
        "T=0", "K=1", "K=E", "K>E", "E>=256", "E=512", "H=16", "I=16", "nvfp4", "w4a16", "silu", "relu2", "compressed_tensors",
        "linear", "storage", "flat", "view", "view-copy", "float8", "input_global_scale", "no input_global_scale",
        "scalars [1]", "scalars [E]", "scalars [E_loc]", "expert-parallel", "ids32", "ids64", "id beyond 32 bits",
        "non-finite x", "negative routing weight", "output buffer", "one thread", "misaligned views",
    ];

    private static IEnumerable<string> Tags(RandomMoeCase c)
    {
        MoeCaseData d = c.Data;
        var tags = new List<string>
        {
            d.Nvfp4 ? "nvfp4" : "w4a16",
            d.Gated ? "silu" : "relu2",
            d.Ids64 ? "ids64" : "ids32",
            d.W1Alpha.Length == 1 ? "scalars [1]" : d.W1Alpha.Length == d.NumExperts ? "scalars [E]" : "scalars [E_loc]",
        };
        void If(bool condition, string tag)
        {
            if (condition)
            {
                tags.Add(tag);
            }
        }
        If(d.Tokens == 0, "T=0");
        If(d.TopK == 1, "K=1");
        If(d.TopK == d.NumExperts, "K=E");
        If(d.TopK > d.NumExperts, "K>E");
        If(d.NumExperts >= 256, "E>=256");
        If(d.NumExperts == 512, "E=512");
        If(d.Hidden == 16, "H=16");
        If(d.Intermediate == 16, "I=16");
        If(d.CompressedTensors, "compressed_tensors");
        If(d.Layout == ScaleLayout.Linear, "linear");
        If(d.Layout == ScaleLayout.Swizzled128x4 && c.ScaleForm == SwizzledScaleForm.Storage, "storage");
        If(d.Layout == ScaleLayout.Swizzled128x4 && c.ScaleForm == SwizzledScaleForm.Flat, "flat");
        If(d.Layout == ScaleLayout.Swizzled128x4 && c.ScaleForm == SwizzledScaleForm.View, "view");
        If(d.Layout == ScaleLayout.Swizzled128x4 && c.ScaleForm == SwizzledScaleForm.ViewCopy, "view-copy");
        If(c.Float8Scales, "float8");
        If(d.Nvfp4 && d.InputGlobalScale is not null, "input_global_scale");
        If(d.Nvfp4 && d.InputGlobalScale is null, "no input_global_scale");
        If(d.LocalExperts < d.NumExperts, "expert-parallel");
        If(d.Ids.Any(id => id >= 1L << 32 || id <= -(1L << 32)), "id beyond 32 bits");
        If(d.X.Any(bits => (bits & 0x7F80) == 0x7F80), "non-finite x");
        If(d.RoutingWeights.Any(w => w < 0), "negative routing weight");
        If(c.OutputBuffer, "output buffer");
        If(c.Threads == 1, "one thread");
        If(c.MisalignedBy > 0, "misaligned views");
        return tags;
    }
}
