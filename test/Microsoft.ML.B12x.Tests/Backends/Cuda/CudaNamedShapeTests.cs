using System.Collections.Generic;
using System.Linq;
using B12x.Cli.Benchmarks;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Backends.Cuda;

/// <summary>
/// The benchmark shapes at full size on CUDA: against the CPU backend at decode sizes (T ≤ 8), and against the
/// CUDA reference kernels (the CPU backend's canonical order on CUDA cores) at 64 tokens, where the CPU is too slow.
/// </summary>
[TestClass]
[RequiresCuda]
public sealed class CudaNamedShapeTests
{
    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> DecodeCases()
    {
        foreach (BenchmarkShape shape in BenchmarkShape.All)
        {
            yield return new object[] { shape.Name, 1 };
            yield return new object[] { shape.Name, 8 };
        }
    }

    public static IEnumerable<object[]> Shapes()
    {
        foreach (BenchmarkShape shape in BenchmarkShape.All)
        {
            yield return new object[] { shape.Name };
        }
    }

    [TestMethod]
    [DynamicData(nameof(DecodeCases))]
    public void MatchesTheCpuBackendAtDecodeSizes(string shapeName, int tokens)
    {
        BenchmarkShape shape = BenchmarkShape.All.Single(s => s.Name == shapeName);
        using var scope = NewDisposeScope();
        MoeTensors host = NamedShapeCase.Create(shape, tokens, seed: 1000 + tokens);
        ushort[] cpu = MoeTensors.Bits(host.Call());
        ushort[] cuda = MoeTensors.Bits(CudaTestEnvironment.OnCuda(host).Call().cpu());
        CudaTolerance.Result r = CudaTolerance.AssertWithin(cpu, cuda, shape.Hidden, $"{shape.Name} T={tokens}");
        TestContext.WriteLine($"{shape.Name} T={tokens}: {r}");
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void MatchesTheReferenceKernelsAt64Tokens(string shapeName)
    {
        BenchmarkShape shape = BenchmarkShape.All.Single(s => s.Name == shapeName);
        using var scope = NewDisposeScope();
        MoeTensors host = NamedShapeCase.Create(shape, 64, seed: 64);
        ushort[] reference = MoeTensors.Bits(CudaTestEnvironment.OnCuda(host, reference: true).Call().cpu());
        foreach (KernelStrategy strategy in new[] { KernelStrategy.Auto, KernelStrategy.Dynamic })
        {
            ushort[] cuda = MoeTensors.Bits(CudaTestEnvironment.OnCuda(host, strategy).Call().cpu());
            CudaTolerance.Result r = CudaTolerance.AssertWithin(reference, cuda, shape.Hidden, $"{shape.Name} T=64 {strategy}");
            TestContext.WriteLine($"{shape.Name} T=64 {strategy}: {r}");
        }
    }
}
