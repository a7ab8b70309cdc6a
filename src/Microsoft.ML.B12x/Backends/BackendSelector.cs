using System;
using Microsoft.Extensions.Logging;
using Microsoft.ML.B12x.Backends.Cpu;
using Microsoft.ML.B12x.Backends.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Backends;

/// <summary>
/// Chooses where a validated problem runs: on the device its tensors live on unless
/// <see cref="FusedMoeOptions.Device"/> says otherwise; with <see cref="ComputeDevice.Auto"/>, a CUDA problem the
/// CUDA backend cannot serve falls back to the CPU with a logged reason.
/// </summary>
internal static class BackendSelector
{
    public static Tensor Run(MoeProblem problem)
    {
        ComputeDevice requested = problem.Options.Device;
        bool onCuda = problem.Device.type == DeviceType.CUDA;
        if (!onCuda)
        {
            if (requested != ComputeDevice.Cuda)
            {
                return RunOn(CpuMoeBackend.Instance, problem);
            }
            string? unavailable = CudaSupport.UnavailableReason;
            if (unavailable is not null)
            {
                throw new NotSupportedException(
                    $"Device = Cuda was requested but the CUDA backend cannot run: {unavailable} Device = Auto or Cpu runs on the CPU backend.");
            }
            return RunElsewhere(problem, new Device(DeviceType.CUDA, CudaMoeBackend.CurrentDeviceIndex()), ComputeDevice.Cuda);
        }
        if (requested == ComputeDevice.Cpu)
        {
            return RunElsewhere(problem, CPU, ComputeDevice.Cpu);
        }
        string? reason = CudaMoeBackend.Instance.WhyNotSupported(problem, out CudaMoeCall call);
        if (reason is null)
        {
            // Runs with the description and plan of the check: one native plan per call.
            Tensor output = OutputOf(problem);
            if (problem.Tokens > 0)
            {
                CudaMoeBackend.Instance.Run(problem, output, call);
            }
            return output;
        }
        if (requested == ComputeDevice.Cuda)
        {
            throw new NotSupportedException(reason);
        }
        B12xOps.Logger.LogWarning("Fused MoE on {Device} runs on the CPU backend instead: {Reason}", problem.Device, reason);
        return RunElsewhere(problem, CPU, ComputeDevice.Cpu);
    }

    private static Tensor RunOn(IMoeBackend backend, MoeProblem problem)
    {
        string? reason = backend.WhyNotSupported(problem);
        if (reason is not null)
        {
            throw new NotSupportedException(reason);
        }
        Tensor output = OutputOf(problem);
        if (problem.Tokens > 0)
        {
            backend.Run(problem, output);
        }
        return output;
    }

    /// <summary>The caller's output buffer, or a new bfloat16 [T, H] tensor on the problem's device.</summary>
    private static Tensor OutputOf(MoeProblem problem) =>
        problem.Output ?? empty(new long[] { problem.Tokens, problem.Hidden }, ScalarType.BFloat16, problem.Device);

    /// <summary>Copies the inputs to <paramref name="target"/>, runs there, and copies the result back.</summary>
    private static Tensor RunElsewhere(MoeProblem problem, Device target, ComputeDevice where)
    {
        using var scope = NewDisposeScope();
        FusedMoeOptions options = problem.Options with
        {
            Device = where,
            Output = null,
            ScaleLayout = problem.ScaleLayout,
            Fc2InputScale = problem.Fc2InputScale?.Values.to(target),
            InputGlobalScale = problem.InputGlobalScale?.Values.to(target),
        };
        Tensor result = B12xOps.FusedMoe(
            problem.X.to(target), problem.W1Weight.to(target), problem.W1Scales.to(target),
            problem.W2Weight.to(target), problem.W2Scales.to(target), problem.ExpertIds.to(target),
            problem.RoutingWeights.to(target), problem.NumExperts, problem.TopK,
            problem.W1Alpha.Values.to(target), problem.W2Alpha.Values.to(target), options);
        if (problem.Output is not null)
        {
            problem.Output.copy_(result);
            return problem.Output;
        }
        return result.to(problem.Device).MoveToOuterDisposeScope();
    }
}
