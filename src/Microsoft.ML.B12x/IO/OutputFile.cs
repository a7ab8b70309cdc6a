using System;
using System.IO;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.IO;

/// <summary>An output file: a layer call's result in a safetensors file, one tensor <c>output</c> (BF16 [T, H]).</summary>
public static class OutputFile
{
    /// <summary>Tensor name of the result.</summary>
    public const string OutputName = "output";

    /// <summary>True when <paramref name="reader"/>'s file looks like an output file (it holds only <c>output</c>).</summary>
    public static bool IsOutputFile(SafetensorsReader reader) => reader.Tensors.Count == 1 && reader.Contains(OutputName);

    /// <summary>Writes <paramref name="output"/> (bfloat16 [T, H]) as an output file (atomically).</summary>
    /// <exception cref="ArgumentException">The tensor is not bfloat16 of rank 2.</exception>
    public static void Save(string path, Tensor output, IProgress<long>? progress = null)
    {
        TensorChecks.NotNull(output, nameof(output));
        TensorChecks.Dtype(output, nameof(output), ScalarType.BFloat16);
        TensorChecks.Rank(output, nameof(output), 2);
        new SafetensorsWriter().Add(OutputName, output).Save(path, progress);
    }

    /// <summary>Loads an output file's tensor onto <paramref name="device"/> (default CPU).</summary>
    /// <exception cref="InvalidDataException">The file is malformed or its <c>output</c> is missing or not BF16 [T, H].</exception>
    public static Tensor Load(string path, Device? device = null)
    {
        using SafetensorsReader reader = SafetensorsReader.Open(path);
        SafetensorsTensorInfo info = reader.Find(OutputName)
            ?? throw new InvalidDataException($"{path} is not a valid output file: tensor '{OutputName}' is missing.");
        if (info.Dtype != SafetensorsDtype.BF16 || info.Shape.Count != 2)
        {
            throw new InvalidDataException(
                $"{path} is not a valid output file: tensor '{OutputName}' must be BF16 [T, H]; got {SafetensorsDtypes.ToName(info.Dtype)} {info.ShapeText}.");
        }
        return reader.ReadTensor(OutputName, device);
    }
}
