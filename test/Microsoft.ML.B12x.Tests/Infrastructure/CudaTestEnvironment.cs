using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>The CUDA device GPU tests run on, and the B12X_REQUIRE_CUDA switch.</summary>
internal static class CudaTestEnvironment
{
    /// <summary>True when <c>B12X_REQUIRE_CUDA=1</c>: missing CUDA fails GPU tests instead of skipping them.</summary>
    public static bool Required => Environment.GetEnvironmentVariable("B12X_REQUIRE_CUDA") == "1";

    /// <summary>cuda:0, after asserting the backend can run (the assertion fails when B12X_REQUIRE_CUDA=1 and it cannot).</summary>
    public static Device Device
    {
        get
        {
            string? reason = CudaSupport.UnavailableReason;
            if (reason is not null)
            {
                Assert.Fail("The CUDA backend is required (B12X_REQUIRE_CUDA=1) but cannot run: " + reason);
            }
            return new Device(DeviceType.CUDA, 0);
        }
    }

    /// <summary>The arguments of a case on the GPU, with the CUDA backend and the given strategy.</summary>
    public static MoeTensors OnCuda(MoeTensors t, KernelStrategy strategy = KernelStrategy.Auto, bool reference = false)
    {
        Device d = Device;
        FusedMoeOptions o = t.Options;
        return new MoeTensors(
            t.X.to(d), t.W1Weight.to(d), t.W1WeightSf.to(d), t.W2Weight.to(d), t.W2WeightSf.to(d),
            t.TokenSelectedExperts.to(d), t.TokenFinalScales.to(d), t.NumExperts, t.TopK, t.W1Alpha.to(d), t.W2Alpha.to(d),
            o with
            {
                Device = ComputeDevice.Cuda,
                Strategy = strategy,
                UseReferenceKernels = reference,
                Fc2InputScale = o.Fc2InputScale?.to(d),
                InputGlobalScale = o.InputGlobalScale?.to(d),
            });
    }
}
