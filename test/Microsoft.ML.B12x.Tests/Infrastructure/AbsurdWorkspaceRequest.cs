using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>
/// A valid call that no machine can serve: one token routed <see cref="Routes"/> times to the one expert of
/// H = <see cref="Hidden"/>. Every routed pair needs workspace rows of about H floats (CPU: 2H + I floats, 512 KiB;
/// CUDA: an fp32 FC2 row and the quantised input, about 292 KiB), 292-512 GiB in all, from about 10 MB of arguments.
/// H stays within every CUDA strategy's kernel limits (the micro strategy stages a row of H bf16 values in 227 KB of
/// shared memory), so the call is refused for its workspace, not for its shape. The weights stay uninitialised:
/// nothing reads them before the workspace is sized.
/// </summary>
internal static class AbsurdWorkspaceRequest
{
    public const int Hidden = 1 << 16;
    public const int Intermediate = 16;
    public const int Routes = 1 << 20;

    /// <summary>The call's tensors on <paramref name="device"/> (in the caller's dispose scope), Device option matching it.</summary>
    public static MoeTensors Create(Device device) => new(
        zeros(new long[] { 1, Hidden }, ScalarType.BFloat16, device),
        empty(new long[] { 1, 2 * Intermediate, Hidden / 2 }, ScalarType.Byte, device),
        empty(new long[] { 1, 128, Hidden / 16 }, ScalarType.Byte, device),
        empty(new long[] { 1, Hidden, Intermediate / 2 }, ScalarType.Byte, device),
        empty(new long[] { 1, Hidden, 4 }, ScalarType.Byte, device),
        zeros(new long[] { 1, Routes }, ScalarType.Int32, device),
        ones(new long[] { 1, Routes }, device: device),
        1, Routes, ones(new long[] { 1 }, device: device), ones(new long[] { 1 }, device: device),
        new FusedMoeOptions
        {
            Fc2InputScale = ones(new long[] { 1 }, device: device),
            Device = device.type == DeviceType.CUDA ? ComputeDevice.Cuda : ComputeDevice.Cpu,
        });
}
