using System;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Backends;

/// <summary>Where a call runs when the caller asks for a device (semantics.md, "Shape rules and errors").</summary>
[TestClass]
public sealed class BackendSelectorTests
{
    [TestMethod]
    public void DeviceCudaWithoutTheCudaBackendIsANotSupportedExceptionSayingWhy()
    {
        if (CudaSupport.IsAvailable)
        {
            Assert.Inconclusive("The CUDA backend is available here, so Device = Cuda runs.");
        }
        using var scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(MoeCaseGenerator.Create(new MoeCaseSpec(2, 32, 16, 3, 2, Seed: 5)));

        var error = Assert.ThrowsExactly<NotSupportedException>(() => (t with { Options = t.Options with { Device = ComputeDevice.Cuda } }).Call());

        Assert.Contains("Device = Cuda", error.Message);
        Assert.Contains(CudaSupport.UnavailableReason!, error.Message);
    }

    [TestMethod]
    public void DeviceAutoWithHostTensorsRunsOnTheCpuBackend()
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(2, 32, 16, 3, 2, Seed: 5));
        using var scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(data);

        ushort[] auto = MoeTensors.Bits((t with { Options = t.Options with { Device = ComputeDevice.Auto } }).Call());

        BitAssert.Equal(MoeCaseRunner.Run(data), auto, data.Hidden, "Device = Auto with host tensors");
    }
}
