using System;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Backends.Cuda;

/// <summary>
/// A valid request over a kernel limit (here the micro strategy's staged row of H bf16 values, 256 KB for H = 2^17,
/// more than any GPU's 227 KB of shared memory per block) is refused before any launch: NotSupportedException under
/// Device = Cuda, the CPU backend under Auto, and the strategies without that limit still run on the GPU.
/// </summary>
[TestClass]
[RequiresCuda]
public sealed class CudaKernelLimitTests
{
    private static MoeCaseData HugeHidden() =>
        MoeCaseGenerator.Create(new MoeCaseSpec(1, 1 << 17, 16, 2, 1, InvalidIdRate: 0, Seed: 3));

    [TestMethod]
    public void MicroBeyondSharedMemoryIsNotSupportedUnderDeviceCuda()
    {
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(HugeHidden()), KernelStrategy.Micro);
        var error = Assert.ThrowsExactly<NotSupportedException>(() => t.Call());
        StringAssert.Contains(error.Message, "shared memory");
    }

    [TestMethod]
    public void MicroBeyondSharedMemoryRunsOnTheCpuUnderAuto()
    {
        MoeCaseData data = HugeHidden();
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(data), KernelStrategy.Micro);
        ushort[] result = MoeTensors.Bits((t with { Options = t.Options with { Device = ComputeDevice.Auto } }).Call().cpu());
        BitAssert.Equal(MoeCaseRunner.Run(data), result, data.Hidden, "Auto fell back to the CPU backend");
    }

    [TestMethod]
    public void TheStaticStrategyServesTheSameHiddenSizeOnTheGpu()
    {
        MoeCaseData data = HugeHidden();
        using var scope = NewDisposeScope();
        ushort[] result = MoeTensors.Bits(CudaTestEnvironment.OnCuda(MoeTensors.From(data), KernelStrategy.Static).Call().cpu());
        CudaTolerance.AssertWithin(MoeCaseRunner.Run(data), result, data.Hidden, "static, H = 2^17");
    }
}
