using System;
using Microsoft.ML.B12x.Backends.Cuda.Interop;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Backends.Cuda.Interop;

/// <summary>
/// The native statuses as exceptions (README "Errors"), and the fault hook's argument check. The mapping needs no
/// native library; arming needs the library but no GPU.
/// </summary>
[TestClass]
public sealed class NativeProxyTests
{
    private const string IllegalAddressText = "combine launch failed: an illegal memory access was encountered (cudaErrorIllegalAddress)";

    [TestMethod]
    public void ALostContextIsANativeExceptionThatSaysToRestartTheProcess()
    {
        Exception error = NativeProxy.ExceptionFor(5, "B12X_STATUS_CUDA_CONTEXT_LOST", "b12x_moe_run", IllegalAddressText);

        var native = Assert.IsInstanceOfType<B12xNativeException>(error);
        Assert.AreEqual(5, native.Status);
        Assert.AreEqual("B12X_STATUS_CUDA_CONTEXT_LOST", native.StatusName);
        Assert.IsTrue(native.IsContextLost);
        Assert.Contains("b12x_moe_run: " + IllegalAddressText, native.Message);
        Assert.Contains("restart the process", native.Message);
    }

    [TestMethod]
    public void ACudaErrorIsANativeExceptionThatKeepsTheContext()
    {
        const string text = "injected fault launch failed: invalid configuration argument (cudaErrorInvalidConfiguration)";
        Exception error = NativeProxy.ExceptionFor(4, "B12X_STATUS_CUDA_ERROR", "b12x_moe_run", text);

        var native = Assert.IsInstanceOfType<B12xNativeException>(error);
        Assert.AreEqual(4, native.Status);
        Assert.IsFalse(native.IsContextLost);
        Assert.Contains("b12x_moe_run: " + text, native.Message);
        Assert.DoesNotContain("restart", native.Message);
    }

    [TestMethod]
    [DataRow(1, typeof(ArgumentException))]
    [DataRow(2, typeof(NotSupportedException))]
    [DataRow(3, typeof(B12xNativeException))]
    [DataRow(6, typeof(B12xNativeException))]
    [DataRow(7, typeof(B12xNativeException))]
    public void EveryOtherStatusMapsToItsDocumentedException(int status, Type expected)
    {
        Exception error = NativeProxy.ExceptionFor(status, "NAME", "b12x_moe_run", "text");

        Assert.AreEqual(expected, error.GetType());
        Assert.Contains("b12x_moe_run: text", error.Message);
        Assert.IsFalse(error is B12xNativeException { IsContextLost: true });
    }

    [TestMethod]
    [RequiresNativeLibrary]
    [DataRow(3)]
    [DataRow(-1)]
    public void ArmingAnUnknownFaultIsAnArgumentErrorNamingTheValue(int fault)
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => NativeProxy.ArmFault((NativeFault)fault));

        Assert.Contains("b12x_fault_arm", error.Message);
        Assert.Contains($"got {fault}", error.Message);
        Assert.Contains("B12X_FAULT_LAUNCH_CONFIGURATION (1)", error.Message);
    }
}
