using System;
using System.Runtime.InteropServices;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Backends.Cuda;

/// <summary>
/// semantics.md, "Shape rules and errors": a launch, argument or out-of-memory error surfaces as an exception and
/// later calls keep working. The public API reaches the out-of-memory path (a workspace the allocator refuses); launch
/// failures come from the native fault hook (<see cref="CudaFaultInjectionTests"/>).
/// Not parallelised: the refused allocation makes the caching allocator release its cache, which other GPU tests
/// running at the same time would feel.
/// </summary>
[TestClass]
[RequiresCuda]
[DoNotParallelize]
public sealed class CudaErrorRecoveryTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow(KernelStrategy.Micro)]
    [DataRow(KernelStrategy.Static)]
    [DataRow(KernelStrategy.Dynamic)]
    public void AWorkspaceTheAllocatorRefusesIsAnExceptionAndLaterCallsGiveTheSameBits(KernelStrategy strategy)
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(12, 128, 64, 8, 2, Seed: 61));
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(data), strategy);
        ushort[] before = MoeTensors.Bits(t.Call().cpu());

        // The first refused call leaves PyTorch's caching allocator holding the blocks of its arguments, so device
        // memory is compared from after that call on: later refused calls must not take any more.
        long freeAfterFirst = 0;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            using (var attemptScope = NewDisposeScope())
            {
                MoeTensors absurd = AbsurdWorkspaceRequest.Create(CudaTestEnvironment.Device);
                absurd = absurd with { Options = absurd.Options with { Strategy = strategy } };
                Exception error = Assert.Throws<Exception>(() => absurd.Call());
                TestContext.WriteLine($"{strategy} attempt {attempt + 1}: {error.GetType().Name}: {error.Message}");
                Assert.IsTrue(error is B12xNativeException or ExternalException or OutOfMemoryException, $"exception type {error.GetType()}: {error}");
                Assert.Contains("memory", error.Message, StringComparison.OrdinalIgnoreCase);
                Assert.IsFalse(error is B12xNativeException { IsContextLost: true }, "an out-of-memory error must not lose the context");
            }
            if (attempt == 0)
            {
                cuda.synchronize(CudaTestEnvironment.Device);
                freeAfterFirst = CudaSupport.DeviceMemory().FreeBytes;
            }
        }

        BitAssert.Equal(before, MoeTensors.Bits(t.Call().cpu()), data.Hidden, $"{strategy}: a call after the refused ones");
        cuda.synchronize(CudaTestEnvironment.Device);
        long freeAfter = CudaSupport.DeviceMemory().FreeBytes;
        TestContext.WriteLine($"free device memory: {freeAfterFirst} after the first refused call, {freeAfter} at the end");
        Assert.IsGreaterThanOrEqualTo(freeAfterFirst - (64L << 20), freeAfter, "the refused calls hold no device memory");
    }
}
