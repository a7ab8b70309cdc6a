using System;
using Microsoft.ML.B12x.Backends;
using Microsoft.ML.B12x.IO.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x;

public sealed partial class MoeWeights
{
    /// <summary>
    /// Imports one MoE layer of an NVFP4 Hugging Face checkpoint (ModelOpt or compressed-tensors) with
    /// <see cref="CheckpointImporter.ImportLayer"/> and places it on the device <paramref name="device"/> names
    /// (<see cref="ComputeDevice.Auto"/>: CUDA device 0 when the CUDA backend can run there, else the CPU).
    /// </summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="layer">The decoder layer, 0-based.</param>
    /// <param name="report">What was read and adjusted (print it, or keep <see cref="ImportReport.ToString"/> with the weights).</param>
    /// <param name="options">Layout and convention choices; null for the defaults.</param>
    /// <param name="device">Where the weights go.</param>
    /// <exception cref="System.IO.DirectoryNotFoundException">No such directory.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The layer is out of range.</exception>
    /// <exception cref="NotSupportedException">The checkpoint is not NVFP4, or <see cref="ComputeDevice.Cuda"/> cannot run here.</exception>
    /// <exception cref="System.IO.InvalidDataException">A config key or tensor is missing or malformed.</exception>
    public static MoeWeights FromCheckpoint(
        string directory, int layer, out ImportReport report, CheckpointImportOptions? options = null, ComputeDevice device = ComputeDevice.Auto)
    {
        (Device target, _) = DevicePlacement.Resolve(device, $"MoeWeights.FromCheckpoint({directory}, {layer})");
        ImportedLayer imported = CheckpointImporter.ImportLayer(directory, layer, options);
        report = imported.Report;
        MoeWeights onHost;
        try
        {
            onHost = new MoeWeights(imported.Layer);
        }
        catch
        {
            imported.Dispose();
            throw;
        }
        if (target.type == DeviceType.CPU)
        {
            return onHost;
        }
        using (onHost)
        {
            return onHost.To(target);
        }
    }
}
