using System;
using Microsoft.ML.B12x.Backends.Cuda.Interop;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.MLNet;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Backends.Cuda;

/// <summary>
/// semantics.md, "Shape rules and errors", for launch failures: with the native fault hook armed, the next layer
/// launch is refused by the CUDA runtime (a non-sticky error). The call fails with a message naming the step, and the
/// calls after it give the bits of calls made before it. Sticky errors lose the process's CUDA context, so they are
/// checked in a process of their own (native/tests/moe_smoke.py --fault).
/// Not parallelised: the armed fault belongs to the whole process, so another test's launch could take it.
/// </summary>
[TestClass]
[RequiresCuda]
[DoNotParallelize]
public sealed class CudaFaultInjectionTests
{
    private const string InjectedStep = "injected fault launch failed";

    [TestMethod]
    [DataRow(KernelStrategy.Micro)]
    [DataRow(KernelStrategy.Static)]
    [DataRow(KernelStrategy.Dynamic)]
    public void AnInjectedLaunchFailureIsACudaErrorNamingTheStep(KernelStrategy strategy)
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(12, 128, 64, 8, 2, Seed: 71));
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(data), strategy);

        B12xNativeException error = WithLaunchFault(() => Assert.ThrowsExactly<B12xNativeException>(() => t.Call()));

        Assert.AreEqual((int)NativeStatus.CudaError, error.Status, error.Message);
        Assert.AreEqual("B12X_STATUS_CUDA_ERROR", error.StatusName);
        Assert.IsFalse(error.IsContextLost, error.Message);
        Assert.Contains("b12x_moe_run: " + InjectedStep, error.Message);
        StringAssert.Matches(error.Message, new System.Text.RegularExpressions.Regex(@"\(cudaError\w+\)"), "the CUDA error's name");
    }

    [TestMethod]
    [DataRow(KernelStrategy.Micro)]
    [DataRow(KernelStrategy.Static)]
    [DataRow(KernelStrategy.Dynamic)]
    public void CallsAfterAnInjectedLaunchFailureGiveTheBitsOfCallsBeforeIt(KernelStrategy strategy)
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(12, 128, 64, 8, 2, Seed: 72));
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(data), strategy);
        ushort[] before = MoeTensors.Bits(t.Call().cpu());

        WithLaunchFault(() => Assert.ThrowsExactly<B12xNativeException>(() => t.Call()));

        for (int call = 1; call <= 2; call++)
        {
            BitAssert.Equal(before, MoeTensors.Bits(t.Call().cpu()), data.Hidden, $"{strategy}: call {call} after the failed one");
        }
    }

    [TestMethod]
    [DataRow(KernelStrategy.Micro)]
    [DataRow(KernelStrategy.Static)]
    [DataRow(KernelStrategy.Dynamic)]
    public void AFailedGraphCaptureFailsThatPlanRunAndTheNextRunCapturesAndReplaysTheSameBits(KernelStrategy strategy)
    {
        Device device = CudaTestEnvironment.Device;
        MlNetCase c = MlNetCase.Create(tokens: 3, seed: 73);
        using MoeWeights host = c.Weights();
        using MoeWeights weights = host.To(device);
        using MoePlan plan = MoePlan.Create(weights, maxTokens: 3, strategy: strategy);
        using var scope = NewDisposeScope();
        MoeTensors t = CudaTestEnvironment.OnCuda(MoeTensors.From(c.Data), strategy);
        ushort[] expected = MoeTensors.Bits(t.Call().cpu());

        B12xNativeException error = WithLaunchFault(
            () => Assert.ThrowsExactly<B12xNativeException>(() => plan.Run(t.X, t.TokenSelectedExperts, t.TokenFinalScales)));
        Assert.AreEqual((int)NativeStatus.CudaError, error.Status, error.Message);
        Assert.Contains("b12x_moe_graph_create: " + InjectedStep, error.Message);
        Assert.AreEqual(0, plan.CapturedGraphs, "a failed capture keeps no graph");

        ushort[] replayed = MoeTensors.Bits(plan.Run(t.X, t.TokenSelectedExperts, t.TokenFinalScales).cpu());
        BitAssert.Equal(expected, replayed, MlNetCase.Hidden, $"{strategy}: the plan's run after the failed capture");
        Assert.AreEqual(1, plan.CapturedGraphs, strategy.ToString());
    }

    /// <summary>Runs <paramref name="call"/> with a launch fault armed, disarming afterwards whether or not it was taken.</summary>
    private static T WithLaunchFault<T>(Func<T> call)
    {
        NativeProxy.ArmFault(NativeFault.LaunchConfiguration);
        try
        {
            return call();
        }
        finally
        {
            NativeProxy.ArmFault(NativeFault.None);
        }
    }
}
