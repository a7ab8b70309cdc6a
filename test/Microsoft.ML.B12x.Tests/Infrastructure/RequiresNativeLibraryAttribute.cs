using System;
using Microsoft.ML.B12x.Backends.Cuda.Interop;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>
/// Runs a test where the native library loads, GPU or not (for calls that touch no device); elsewhere it is reported
/// as skipped with the loader's reason. With <c>B12X_REQUIRE_CUDA=1</c> the test always runs.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class, AllowMultiple = false)]
public sealed class RequiresNativeLibraryAttribute : ConditionBaseAttribute
{
    public RequiresNativeLibraryAttribute()
        : base(ConditionMode.Include)
    {
        IgnoreMessage = "Native library unavailable: " + (NativeLibraryLoader.Failure ?? "unknown reason");
    }

    public override bool IsConditionMet => CudaTestEnvironment.Required || NativeLibraryLoader.IsLoaded;

    public override string GroupName => "NativeLibrary";
}
