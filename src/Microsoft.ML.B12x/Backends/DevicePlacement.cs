using System;
using Microsoft.Extensions.Logging;
using Microsoft.ML.B12x.Backends.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Backends;

/// <summary>
/// Turns a requested <see cref="ComputeDevice"/> into the device where weights and batches live:
/// <see cref="ComputeDevice.Auto"/> picks CUDA device 0 when the CUDA backend can run there (TorchSharp sees a GPU,
/// the native library loads and has kernels for the GPU's architecture), else the CPU, and logs which and why.
/// </summary>
internal static class DevicePlacement
{
    /// <summary>The device chosen for <paramref name="requested"/> and a sentence saying why.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An undefined <see cref="ComputeDevice"/> value.</exception>
    /// <exception cref="NotSupportedException"><see cref="ComputeDevice.Cuda"/> where the CUDA backend cannot run.</exception>
    public static (Device Device, string Reason) Resolve(ComputeDevice requested, string who)
    {
        if (!Enum.IsDefined(requested))
        {
            throw new ArgumentOutOfRangeException(nameof(requested), requested, "Expected Auto, Cpu or Cuda.");
        }
        int index = CudaMoeBackend.CurrentDeviceIndex();
        (Device device, string reason) = requested switch
        {
            ComputeDevice.Cpu => (CPU, "Device = Cpu was requested"),
            ComputeDevice.Cuda => CudaMoeBackend.WhyDeviceNotSupported(index) is string why
                ? throw new NotSupportedException($"{who}: Device = Cuda was requested but the CUDA backend cannot run: {why}")
                : (new Device(DeviceType.CUDA, index), "Device = Cuda was requested"),
            _ => CudaMoeBackend.WhyDeviceNotSupported(index) is string why
                ? (CPU, $"Device = Auto chose the CPU: {why}")
                : (new Device(DeviceType.CUDA, index), $"Device = Auto chose CUDA: the native library {CudaSupport.NativeLibraryPath} runs on cuda:{index}"),
        };
        reason = reason.TrimEnd('.');
        B12xOps.Logger.LogInformation("{Who} runs on {Device}. {Reason}.", who, device, reason);
        return (device, reason);
    }

    /// <summary>
    /// Whether two devices are the same (TorchSharp's <see cref="Device"/> compares by reference; an index of -1 means
    /// the current device, 0 here).
    /// </summary>
    public static bool Same(Device a, Device b) => a.type == b.type && Math.Max(a.index, 0) == Math.Max(b.index, 0);

    /// <summary>The <see cref="ComputeDevice"/> that names where <paramref name="device"/> is.</summary>
    public static ComputeDevice Kind(Device device) => device.type == DeviceType.CUDA ? ComputeDevice.Cuda : ComputeDevice.Cpu;
}
