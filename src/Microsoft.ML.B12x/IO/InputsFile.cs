using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.B12x.IO.Safetensors;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.IO;

/// <summary>
/// An inputs file: the arguments of one layer call in a safetensors file, <c>x</c> (BF16 [T, H]),
/// <c>token_selected_experts</c> (I32 or I64 [T, K]) and <c>token_final_scales</c> (F32 [T, K]), and nothing else.
/// </summary>
public static class InputsFile
{
    /// <summary>Tensor name of the hidden states.</summary>
    public const string XName = "x";

    /// <summary>Tensor name of the expert ids.</summary>
    public const string TokenSelectedExpertsName = "token_selected_experts";

    /// <summary>Tensor name of the routing weights.</summary>
    public const string TokenFinalScalesName = "token_final_scales";

    private static readonly string[] s_names = [XName, TokenSelectedExpertsName, TokenFinalScalesName];

    /// <summary>True when <paramref name="reader"/>'s file looks like an inputs file (it holds x and token_selected_experts).</summary>
    public static bool IsInputsFile(SafetensorsReader reader) => reader.Contains(XName) && reader.Contains(TokenSelectedExpertsName);

    /// <summary>Validates the inputs file open in <paramref name="reader"/> and returns its sizes, reading no data.</summary>
    /// <exception cref="InvalidDataException">The file breaks an inputs-file rule; the message names the tensor.</exception>
    public static (int Tokens, int Hidden, int TopK) ReadShape(SafetensorsReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return Validate(
            reader.Tensors.ToDictionary(t => t.Name, TensorSignature.Of, StringComparer.Ordinal),
            reason => new InvalidDataException($"{reader.Path} is not a valid inputs file: {reason}."));
    }

    /// <summary>Loads an inputs file onto <paramref name="device"/> (default CPU).</summary>
    /// <exception cref="InvalidDataException">The file is malformed or breaks an inputs-file rule.</exception>
    public static MoeInputs Load(string path, Device? device = null)
    {
        using SafetensorsReader reader = SafetensorsReader.Open(path);
        ReadShape(reader);
        var loaded = new List<Tensor>();
        try
        {
            foreach (string name in s_names)
            {
                loaded.Add(reader.ReadTensor(name, device));
            }
            return new MoeInputs(loaded[0], loaded[1], loaded[2]);
        }
        catch
        {
            loaded.ForEach(t => t.Dispose());
            throw;
        }
    }

    /// <summary>Writes <paramref name="inputs"/> as an inputs file (atomically).</summary>
    /// <exception cref="ArgumentException">A tensor has the wrong dtype or shape.</exception>
    public static void Save(string path, MoeInputs inputs, IProgress<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Exception Fail(string reason) => new ArgumentException($"The inputs cannot be saved: {reason}.", nameof(inputs));
        Tensor[] tensors = [inputs.X, inputs.TokenSelectedExperts, inputs.TokenFinalScales];
        Validate(
            s_names.Zip(tensors).ToDictionary(p => p.First, p => LayerFile.SignatureOf(p.Second, p.First, Fail), StringComparer.Ordinal),
            Fail);
        var writer = new SafetensorsWriter();
        foreach ((string name, Tensor tensor) in s_names.Zip(tensors))
        {
            writer.Add(name, tensor);
        }
        writer.Save(path, progress);
    }

    private static (int Tokens, int Hidden, int TopK) Validate(
        IReadOnlyDictionary<string, TensorSignature> tensors, Func<string, Exception> fail)
    {
        foreach (string name in tensors.Keys.Where(n => !s_names.Contains(n)))
        {
            throw fail($"unexpected tensor '{name}'; an inputs file holds only {string.Join(", ", s_names)}");
        }
        foreach (string name in s_names.Where(n => !tensors.ContainsKey(n)))
        {
            throw fail($"tensor '{name}' is missing");
        }
        TensorSignature x = tensors[XName];
        if (x.Dtype != SafetensorsDtype.BF16 || x.Shape.Length != 2 || x.Shape[0] > int.MaxValue || x.Shape[1] > int.MaxValue)
        {
            throw fail($"tensor '{XName}' must be BF16 [T, H]; got {x.DtypeName} {x.ShapeText}");
        }
        TensorSignature ids = tensors[TokenSelectedExpertsName];
        if ((ids.Dtype != SafetensorsDtype.I32 && ids.Dtype != SafetensorsDtype.I64) || ids.Shape.Length != 2 ||
            ids.Shape[0] != x.Shape[0] || ids.Shape[1] < 1 || ids.Shape[1] > int.MaxValue)
        {
            throw fail($"tensor '{TokenSelectedExpertsName}' must be I32 or I64 [T, K] with T = {x.Shape[0]} (from '{XName}') and K ≥ 1; " +
                $"got {ids.DtypeName} {ids.ShapeText}");
        }
        TensorSignature scales = tensors[TokenFinalScalesName];
        if (scales.Dtype != SafetensorsDtype.F32 || !scales.HasShape(ids.Shape))
        {
            throw fail($"tensor '{TokenFinalScalesName}' must be F32 {ids.ShapeText} like '{TokenSelectedExpertsName}'; got {scales.DtypeName} {scales.ShapeText}");
        }
        return ((int)x.Shape[0], (int)x.Shape[1], (int)ids.Shape[1]);
    }
}
