using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>
/// Runs a test only where the CUDA backend can run (a GPU, a CUDA LibTorch and the native library); elsewhere it
/// is reported as skipped with the reason. With <c>B12X_REQUIRE_CUDA=1</c> the test always runs, so a broken GPU
/// setup fails instead of passing as "all skipped".
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class, AllowMultiple = false)]
public sealed class RequiresCudaAttribute : ConditionBaseAttribute
{
    public RequiresCudaAttribute()
        : base(ConditionMode.Include)
    {
        IgnoreMessage = "CUDA backend unavailable: " + (CudaSupport.UnavailableReason ?? "unknown reason");
    }

    public override bool IsConditionMet => CudaTestEnvironment.Required || CudaSupport.IsAvailable;

    public override string GroupName => "CUDA";
}
