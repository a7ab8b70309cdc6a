using System;
using System.Globalization;
using System.IO;
using Microsoft.ML.B12x.IO.Safetensors;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// Reads the NVFP4 tensors of one expert projection (checkpoint-formats.md §2.2, §3.2) straight from the memory map
/// into the caller's buffers, checking every dtype and shape (traps T1, T2, T4) and converting the global scales to
/// ModelOpt form (T3). Errors name the tensor, its file, and the expected and actual dtype or shape.
/// </summary>
internal sealed class ExpertTensorReader
{
    private const int BlockSize = CheckpointQuantization.GroupSize;

    private readonly CheckpointTensors _tensors;
    private readonly CheckpointQuantization _quantization;
    private readonly string _directory;

    public ExpertTensorReader(CheckpointTensors tensors, CheckpointQuantization quantization, string directory)
    {
        _tensors = tensors;
        _quantization = quantization;
        _directory = directory;
    }

    /// <summary>How many tensors were read so far.</summary>
    public int TensorsRead { get; private set; }

    /// <summary>
    /// Copies the codes of <paramref name="module"/> ([N, K/2] bytes) into <paramref name="codes"/> and its block
    /// scales ([N, K/16] E4M3 bytes, linear) into <paramref name="scales"/>, and returns its global scales.
    /// </summary>
    /// <param name="module">The projection's module name.</param>
    /// <param name="rows">N, its output features.</param>
    /// <param name="columns">K, its input features.</param>
    /// <param name="sizes">Where N and K come from, for error messages (e.g. "N = moe_intermediate_size, K = hidden_size").</param>
    /// <param name="codes">Destination of N·K/2 bytes.</param>
    /// <param name="scales">Destination of N·K/16 bytes.</param>
    /// <param name="readInput">Whether to read the input scale (false for weight-only checkpoints).</param>
    /// <exception cref="InvalidDataException">A tensor is missing, of the wrong dtype or shape, or holds NaN scales.</exception>
    public ProjectionScales Read(string module, int rows, int columns, string sizes, Span<byte> codes, Span<byte> scales, bool readInput)
    {
        string what = string.Create(CultureInfo.InvariantCulture, $"N = {rows}, K = {columns}: {sizes}");
        string codesName = module + _quantization.WeightSuffix;
        Copy(Require(codesName, SafetensorsDtype.U8, [rows, columns / 2], "packed E2M1 codes [N, K/2]", what), codes);
        string scalesName = module + CheckpointQuantization.BlockScaleSuffix;
        Copy(Require(scalesName, SafetensorsDtype.F8E4M3, [rows, columns / BlockSize], "E4M3 block scales [N, K/16]", what), scales);
        int negative = CheckBlockScales(scalesName, scales);

        string weightName = module + _quantization.WeightGlobalSuffix;
        float storedWeight = Scalar(weightName, "weight global scale");
        float weight = _quantization.ToMultiplier(storedWeight);
        if (!(weight >= 0) || !float.IsFinite(weight))
        {
            throw new InvalidDataException(Located(weightName,
                $"= {Text(storedWeight)} gives the weight global scale {Text(weight)} (as a multiplier); it must be finite and ≥ 0"));
        }

        string inputName = module + _quantization.InputGlobalSuffix;
        float? input = null;
        string? problem = null;
        if (readInput)
        {
            if (!_tensors.Contains(inputName))
            {
                problem = "missing";
            }
            else
            {
                float stored = Scalar(inputName, "input global scale");
                float multiplier = _quantization.ToMultiplier(stored);
                if (float.IsFinite(multiplier) && multiplier > 0)
                {
                    input = multiplier;
                }
                else
                {
                    problem = multiplier == stored ? $"= {Text(stored)}" : $"= {Text(stored)} (multiplier {Text(multiplier)})";
                }
            }
        }
        return new ProjectionScales(weight, weightName, input, inputName, problem, negative);
    }

    /// <summary>True when the checkpoint holds the input scale tensor of <paramref name="module"/>.</summary>
    public bool HasInputScale(string module) => _tensors.Contains(module + _quantization.InputGlobalSuffix);

    private SafetensorsTensorInfo Require(string name, SafetensorsDtype dtype, long[] shape, string content, string sizes)
    {
        SafetensorsTensorInfo info = _tensors.Find(name)
            ?? throw new InvalidDataException(
                $"{_directory}: tensor '{name}' is missing; expected {SafetensorsDtypes.ToName(dtype)} [{string.Join(", ", shape)}] ({content}, {sizes}).");
        if (info.Dtype != dtype)
        {
            throw new InvalidDataException(Located(name,
                $"has dtype {SafetensorsDtypes.ToName(info.Dtype)}; expected {SafetensorsDtypes.ToName(dtype)} ({content}). " +
                "A BF16 'weight' means an unquantised module; an F32 'weight_scale' is an FP8 per-tensor scale"));
        }
        if (!SameShape(info, shape))
        {
            throw new InvalidDataException(Located(name, $"has shape {info.ShapeText}; expected [{string.Join(", ", shape)}] ({content}, {sizes})"));
        }
        return info;
    }

    /// <summary>A global scale: F32 of shape [] (ModelOpt ≥ 0.25) or [1] (ModelOpt 0.23, compressed-tensors), trap T4.</summary>
    private float Scalar(string name, string content)
    {
        SafetensorsTensorInfo info = _tensors.Find(name)
            ?? throw new InvalidDataException($"{_directory}: tensor '{name}' is missing; expected F32 [] or [1] ({content}).");
        if (info.Dtype != SafetensorsDtype.F32)
        {
            throw new InvalidDataException(Located(name, $"has dtype {SafetensorsDtypes.ToName(info.Dtype)}; expected F32 ({content})"));
        }
        if (!(info.Shape.Count == 0 || (info.Shape.Count == 1 && info.Shape[0] == 1)))
        {
            throw new InvalidDataException(Located(name, $"has shape {info.ShapeText}; expected [] or [1] ({content}, one value per tensor)"));
        }
        TensorsRead++;
        return BitConverter.ToSingle(_tensors.ReaderOf(name).GetBytes(name));
    }

    private void Copy(SafetensorsTensorInfo info, Span<byte> destination)
    {
        _tensors.ReaderOf(info.Name).GetBytes(info.Name).CopyTo(destination);
        TensorsRead++;
    }

    /// <summary>Rejects NaN bytes (0x7F, 0xFF) and counts negative scales (trap T17).</summary>
    private int CheckBlockScales(string name, ReadOnlySpan<byte> scales)
    {
        int negative = 0;
        for (int i = 0; i < scales.Length; i++)
        {
            byte b = scales[i];
            if ((b & 0x7F) == 0x7F)
            {
                throw new InvalidDataException(Located(name, $"holds the E4M3 NaN byte 0x{b:X2} at flat index {i}; block scales must be finite"));
            }
            negative += b > 0x80 ? 1 : 0;
        }
        return negative;
    }

    private string Located(string name, string problem) => $"{Path.Combine(_directory, _tensors.FileOf(name))}: tensor '{name}' {problem}.";

    private static bool SameShape(SafetensorsTensorInfo info, long[] shape)
    {
        if (info.Shape.Count != shape.Length)
        {
            return false;
        }
        for (int i = 0; i < shape.Length; i++)
        {
            if (info.Shape[i] != shape[i])
            {
                return false;
            }
        }
        return true;
    }

    private static string Text(float value) => value.ToString("R", CultureInfo.InvariantCulture);
}
