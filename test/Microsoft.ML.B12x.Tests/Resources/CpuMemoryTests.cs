using System;
using System.Diagnostics;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.IO;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Resources;

/// <summary>
/// Memory over many CPU calls, memory given back on dispose, and requests too large to serve. Not parallelised with
/// other tests: resident and managed memory are process-wide, and other tests' allocations would be counted.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class CpuMemoryTests
{
    /// <summary>
    /// Managed growth allowed over 10,000 calls: 128 KiB. Every .NET object takes at least 24 bytes, so a call that
    /// kept even one object alive would retain 240,000 bytes; what stays after full collections otherwise is a few
    /// KiB of runtime bookkeeping (measured: well under 64 KiB).
    /// </summary>
    private const long ManagedTolerance = 128 << 10;

    /// <summary>
    /// Resident growth allowed over 10,000 calls: 16 MiB. Each call allocates an 8 KiB output (T·H bf16) and a
    /// workspace of T·K rows of 2H + I floats (66 KiB); keeping either per call would retain at least 80 MB. After the
    /// warm-up the growth measured (free memory trimmed) was 0.4 to 6 MiB over several runs.
    /// </summary>
    private const long ResidentTolerance = 16 << 20;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void TenThousandSmallCallsGrowNeitherManagedNorResidentMemory()
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(4, 1024, 32, 4, 2, InvalidIdRate: 0, Seed: 51));
        using var scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(data);
        // Warm-up: tiered JIT compilation, thread-pool threads and LibTorch's first allocations settle within about
        // 10,000 calls (measured: resident memory grows about 10 MiB over them, and much less over the next ones).
        CallMany(t, 10_000);
        long managedBefore = ProcessMemory.ManagedBytesAfterFullCollection();
        long residentBefore = ProcessMemory.ResidentBytes();

        CallMany(t, 10_000);

        long managedGrowth = ProcessMemory.ManagedBytesAfterFullCollection() - managedBefore;
        long residentGrowth = ProcessMemory.ResidentBytes() - residentBefore;
        TestContext.WriteLine($"after 10,000 calls: managed {managedGrowth:+#;-#;0} bytes, resident {residentGrowth:+#;-#;0} bytes");
        Assert.IsLessThan(ManagedTolerance, managedGrowth, "managed bytes retained by 10,000 calls");
        Assert.IsLessThan(ResidentTolerance, residentGrowth, "resident bytes retained by 10,000 calls");
    }

    [TestMethod]
    public void DisposingAResultGivesItsMemoryBack()
    {
        // 8192 tokens of H = 4096: the output is 64 MiB. Every id is invalid, so the call only writes +0 rows.
        const int Tokens = 8192, Hidden = 4096;
        MoeCaseData layer = MoeCaseGenerator.Create(new MoeCaseSpec(0, Hidden, 16, 2, 1, Seed: 52));
        using var scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(layer) with
        {
            X = zeros(new long[] { Tokens, Hidden }, ScalarType.BFloat16),
            TokenSelectedExperts = full(new long[] { Tokens, 1 }, -1, ScalarType.Int32),
            TokenFinalScales = ones(Tokens, 1),
        };
        long before = ProcessMemory.ResidentBytes();

        Tensor output = t.Call();
        long withResult = ProcessMemory.ResidentBytes();
        output.Dispose();
        long after = ProcessMemory.ResidentBytes();

        TestContext.WriteLine($"resident: {withResult - before:+#;-#;0} bytes with the result, {after - before:+#;-#;0} after disposing it");
        Assert.IsGreaterThan(56L << 20, withResult - before, "the 64 MiB result is resident while it lives");
        Assert.IsLessThan(8L << 20, after - before, "resident bytes left after disposing the result");
    }

    [TestMethod]
    public void DisposingALoadedLayerGivesItsMemoryBack()
    {
        // One expert of H = I = 8192: 108 MiB of codes and scales; measured after disposal (free memory trimmed):
        // under 1 MiB left, so 4 MiB is room for noise while any retained tensor (at least 4 MiB) shows.
        using var directory = new TemporaryDirectory();
        string path = directory.File("big-layer.safetensors");
        using (var scope = NewDisposeScope())
        {
            LayerFile.Save(path, LayerFixtures.Layer(LayerFixtures.Config(experts: 1, hidden: 8192, intermediate: 8192), seed: 53));
        }
        ProcessMemory.ManagedBytesAfterFullCollection();
        long before = ProcessMemory.ResidentBytes();

        MoeLayerData layer = LayerFile.Load(path);
        long loaded = ProcessMemory.ResidentBytes();
        layer.Dispose();
        long after = ProcessMemory.ResidentBytes();

        TestContext.WriteLine($"resident: {loaded - before:+#;-#;0} bytes with the layer loaded, {after - before:+#;-#;0} after disposing it");
        Assert.IsGreaterThan(90L << 20, loaded - before, "the layer's 108 MiB are resident while it lives");
        Assert.IsLessThan(4L << 20, after - before, "resident bytes left after disposing the layer");
    }

    [TestMethod]
    public void ARequestWhoseWorkspaceExceedsAllMemoryFailsClearlyBeforeAllocatingItAndLaterCallsWork()
    {
        using (var scope = NewDisposeScope())
        {
            MoeTensors absurd = AbsurdWorkspaceRequest.Create(CPU);
            long before = ProcessMemory.ResidentBytes();
            var timer = Stopwatch.StartNew();
            var error = Assert.ThrowsExactly<InsufficientMemoryException>(() => absurd.Call());
            TestContext.WriteLine(error.Message);
            Assert.Contains("workspace", error.Message);
            Assert.Contains($"{AbsurdWorkspaceRequest.Routes} routed pairs", error.Message);
            Assert.IsLessThan(64L << 20, ProcessMemory.ResidentBytes() - before, "resident bytes after the refused call");
            Assert.IsLessThan(TimeSpan.FromSeconds(10), timer.Elapsed, "time to refuse");
        }

        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(3, 32, 16, 3, 2, Seed: 54));
        BitAssert.Equal(Reference.ReferenceMoe.Run(data), MoeCaseRunner.Run(data), data.Hidden, "a call after the refused one");
    }

    private static void CallMany(MoeTensors t, int calls)
    {
        for (int i = 0; i < calls; i++)
        {
            using var scope = NewDisposeScope();
            t.Call();
        }
    }
}
