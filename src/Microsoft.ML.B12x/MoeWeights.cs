using System;
using System.IO;
using Microsoft.ML.B12x.Backends;
using Microsoft.ML.B12x.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x;

/// <summary>
/// One MoE layer's quantised expert weights and configuration on one device, ready for <see cref="B12xOps.FusedMoe"/>,
/// the ML.NET <see cref="FusedMoeTransformer"/> and the TorchSharp <see cref="FusedMoeLayer"/>. Each tensor is held
/// once; disposing the object releases them. Notation as in <see cref="B12xOps.FusedMoe"/>.
/// </summary>
/// <remarks>
/// Create it from a layer file (<see cref="FromLayerFile(string, ComputeDevice)"/>), from dense weights
/// (<see cref="Quantize"/>), or from tensors you already have (the constructor). Weights loaded from a file remember
/// it, so saving a transformer copies that file as it is.
/// </remarks>
public sealed partial class MoeWeights : IDisposable
{
    private readonly MoeLayerData _layer;
    private bool _disposed;

    /// <summary>
    /// Wraps a layer's tensors and configuration, taking ownership of the tensors (disposing this object disposes
    /// them). The tensors' dtypes and shapes are checked against <see cref="MoeLayerData.Config"/> as a layer file's
    /// are; all must be on one device.
    /// </summary>
    /// <exception cref="ArgumentException">A tensor disagrees with the configuration, or the tensors are on different devices.</exception>
    public MoeWeights(MoeLayerData layer)
        : this(layer, source: null)
    {
    }

    internal MoeWeights(MoeLayerData layer, LayerFileSource? source)
    {
        ArgumentNullException.ThrowIfNull(layer);
        LayerFile.CheckTensors(layer, reason => new ArgumentException($"The weights are inconsistent: {reason}.", nameof(layer)));
        Device device = layer.W1Weight.device;
        foreach ((string name, Tensor? tensor) in new (string, Tensor?)[]
        {
            (LayerFile.W1WeightSfName, layer.W1WeightSf), (LayerFile.W2WeightName, layer.W2Weight),
            (LayerFile.W2WeightSfName, layer.W2WeightSf), (LayerFile.W1AlphaName, layer.W1Alpha), (LayerFile.W2AlphaName, layer.W2Alpha),
            (LayerFile.Fc2InputScaleName, layer.Fc2InputScale), (LayerFile.InputGlobalScaleName, layer.InputGlobalScale),
        })
        {
            if (tensor is not null && !DevicePlacement.Same(tensor.device, device))
            {
                throw new ArgumentException(
                    $"The weights must be on one device: '{LayerFile.W1WeightName}' is on {device} but '{name}' is on {tensor.device}.", nameof(layer));
            }
        }
        _layer = layer;
        Source = source;
    }

    /// <summary>
    /// Loads a layer file (see <see cref="LayerFile"/>) onto the device <paramref name="device"/> names:
    /// <see cref="ComputeDevice.Auto"/> (default) is CUDA device 0 when the CUDA backend can run there, else the CPU;
    /// the choice and its reason go to <see cref="B12xOps.Logger"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid layer file.</exception>
    /// <exception cref="NotSupportedException"><see cref="ComputeDevice.Cuda"/> where the CUDA backend cannot run.</exception>
    public static MoeWeights FromLayerFile(string path, ComputeDevice device = ComputeDevice.Auto)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        (Device target, _) = DevicePlacement.Resolve(device, $"MoeWeights.FromLayerFile({path})");
        return FromLayerFile(path, target);
    }

    /// <summary>Loads a layer file onto a TorchSharp device (e.g. <c>torch.CPU</c> or <c>torch.CUDA</c>).</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid layer file.</exception>
    public static MoeWeights FromLayerFile(string path, Device device)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(device);
        return Load(path, device, LayerFileSource.OfFile(path));
    }

    /// <summary>Loads the layer file at <paramref name="path"/>, remembering <paramref name="source"/> as where its bytes live.</summary>
    internal static MoeWeights Load(string path, Device device, LayerFileSource source)
    {
        MoeLayerData layer = LayerFile.Load(path, device);
        try
        {
            return new MoeWeights(layer, source);
        }
        catch
        {
            layer.Dispose();
            throw;
        }
    }

    /// <summary>Sizes and modes (the layer file's metadata and tensor shapes).</summary>
    public MoeLayerConfig Config => Layer.Config;

    /// <summary>The device every tensor is on.</summary>
    public Device Device => Layer.W1Weight.device;

    /// <summary>FC1 codes, uint8 [E_loc, W1Rows, H/2], two E2M1 codes per byte.</summary>
    public Tensor W1Weight => Layer.W1Weight;

    /// <summary>FC1 block scales (E4M3 bytes), laid out as <see cref="MoeLayerConfig.ScaleLayout"/> says.</summary>
    public Tensor W1WeightSf => Layer.W1WeightSf;

    /// <summary>FC2 codes, uint8 [E_loc, H, I/2].</summary>
    public Tensor W2Weight => Layer.W2Weight;

    /// <summary>FC2 block scales (E4M3 bytes).</summary>
    public Tensor W2WeightSf => Layer.W2WeightSf;

    /// <summary>FC1 output scale, float32 [1], [E] or [E_loc].</summary>
    public Tensor W1Alpha => Layer.W1Alpha;

    /// <summary>FC2 output scale, float32 [1], [E] or [E_loc].</summary>
    public Tensor W2Alpha => Layer.W2Alpha;

    /// <summary>FC2-input quantisation scale (float32 [1], [E] or [E_loc]); null only in W4A16 mode.</summary>
    public Tensor? Fc2InputScale => Layer.Fc2InputScale;

    /// <summary>FC1-input quantisation scale (float32 [1], [E] or [E_loc]), or null.</summary>
    public Tensor? InputGlobalScale => Layer.InputGlobalScale;

    /// <summary>The layer file the weights were loaded from ("ZIP!ENTRY" for a saved transformer), or null.</summary>
    public string? SourcePath => Source?.Description;

    /// <summary>Where the layer file's bytes can be read again, or null for weights built in memory.</summary>
    internal LayerFileSource? Source { get; }

    internal MoeLayerData Layer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _layer;
        }
    }

    /// <summary>The options that run these weights as their configuration says, with the given execution choices.</summary>
    public FusedMoeOptions CreateOptions(KernelStrategy strategy = KernelStrategy.Auto, ComputeDevice device = ComputeDevice.Auto) =>
        Layer.CreateOptions(strategy, device);

    /// <summary>A copy of the weights on <paramref name="device"/> (new tensors; the copy remembers the same layer file).</summary>
    public MoeWeights To(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        MoeLayerData layer = Layer;
        Tensor Copy(Tensor t) => t.to(device, copy: true);
        var copy = new MoeLayerData(
            layer.Config, Copy(layer.W1Weight), Copy(layer.W1WeightSf), Copy(layer.W2Weight), Copy(layer.W2WeightSf),
            Copy(layer.W1Alpha), Copy(layer.W2Alpha),
            layer.Fc2InputScale is null ? null : Copy(layer.Fc2InputScale),
            layer.InputGlobalScale is null ? null : Copy(layer.InputGlobalScale));
        return new MoeWeights(copy, Source);
    }

    /// <summary>
    /// Writes the weights as a layer file (see <see cref="LayerFile.Save"/>; atomically). NVFP4 weights must carry
    /// <see cref="InputGlobalScale"/>, as everything this library writes.
    /// </summary>
    /// <exception cref="ArgumentException">The weights break a layer-file rule.</exception>
    public void SaveLayerFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        LayerFile.Save(path, Layer);
    }

    /// <summary>
    /// Writes the layer file of these weights to <paramref name="destination"/>: the bytes of the file they were loaded
    /// from, as they are, or (for weights built in memory) a layer file written by <see cref="LayerFile.Save"/>.
    /// </summary>
    internal void WriteLayerFile(Stream destination)
    {
        if (Source is not null)
        {
            Source.CopyTo(destination);
            return;
        }
        string temporary = Path.Combine(Path.GetTempPath(), $"b12x-layer-{Guid.NewGuid():N}.safetensors");
        try
        {
            LayerFile.Save(temporary, Layer);
            using FileStream file = File.OpenRead(temporary);
            file.CopyTo(destination);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Disposes the tensors.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _layer.Dispose();
        }
    }
}
