using System;
using System.Globalization;
using System.IO;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// The calibration file of <see cref="CheckpointQuantizationOptions.CalibrationPath"/>: per layer the tokens
/// <c>layers.{l}.x</c>, else <c>x</c> (BF16, F16 or F32 [T, H]).
/// </summary>
internal sealed class CalibrationActivations : IDisposable
{
    /// <summary>The tensor used for every layer that has no own one.</summary>
    public const string SharedName = "x";

    private readonly SafetensorsReader _reader;
    private readonly int _hidden;

    private CalibrationActivations(SafetensorsReader reader, int hidden)
    {
        _reader = reader;
        _hidden = hidden;
    }

    public static CalibrationActivations Open(string path, int hidden) => new(SafetensorsReader.Open(path), hidden);

    /// <summary>The per-layer tensor name.</summary>
    public static string LayerName(int layer) => string.Create(CultureInfo.InvariantCulture, $"layers.{layer}.{SharedName}");

    /// <summary>Layer <paramref name="layer"/>'s tokens as a float64 [T, H] tensor (in the caller's dispose scope).</summary>
    /// <exception cref="InvalidDataException">Neither tensor exists, or it has the wrong dtype or shape.</exception>
    public Tensor ForLayer(int layer)
    {
        string name = _reader.Contains(LayerName(layer)) ? LayerName(layer) : SharedName;
        SafetensorsTensorInfo info = _reader.Find(name)
            ?? throw new InvalidDataException($"{_reader.Path} holds neither '{LayerName(layer)}' nor '{SharedName}' (calibration tokens [T, H]).");
        if (info.Dtype is not (SafetensorsDtype.BF16 or SafetensorsDtype.F16 or SafetensorsDtype.F32))
        {
            throw new InvalidDataException($"{_reader.Path}: tensor '{name}' has dtype {SafetensorsDtypes.ToName(info.Dtype)}; expected BF16, F16 or F32.");
        }
        if (info.Shape.Count != 2 || info.Shape[1] != _hidden || info.Shape[0] < 1)
        {
            throw new InvalidDataException($"{_reader.Path}: tensor '{name}' has shape {info.ShapeText}; expected [T, {_hidden}] (T ≥ 1, hidden_size {_hidden}).");
        }
        using Tensor raw = _reader.ReadTensor(name);
        Tensor values = raw.to(ScalarType.Float64);
        ReadOnlySpan<double> span = TensorPointers.HostSpan<double>(values);
        for (int i = 0; i < span.Length; i++)
        {
            if (!double.IsFinite(span[i]))
            {
                throw new InvalidDataException($"{_reader.Path}: tensor '{name}' holds {span[i]} at flat index {i}; calibration tokens must be finite.");
            }
        }
        return values;
    }

    public void Dispose() => _reader.Dispose();
}
