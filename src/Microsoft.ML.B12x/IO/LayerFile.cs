using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.IO;

/// <summary>
/// A layer file: one MoE layer in a safetensors file, tensors named as <see cref="B12xOps.FusedMoe"/>'s parameters in
/// snake_case (<c>w1_weight</c>, <c>w1_weight_sf</c>, <c>w2_weight</c>, <c>w2_weight_sf</c>, <c>w1_alpha</c>,
/// <c>w2_alpha</c>, <c>fc2_input_scale</c> (required for nvfp4), <c>input_global_scale</c> (optional)), and the
/// modes as string metadata (<c>activation</c>, <c>quant_mode</c>, <c>source_format</c>, <c>num_experts</c>,
/// <c>top_k</c>, <c>num_local_experts</c>, <c>local_expert_offset</c>, all optional with FlashInfer's defaults, and
/// <c>scale_layout</c>, required). Scales are stored as F8_E4M3 (U8 accepted on read): swizzled [E_loc, Np, Cbp]
/// storage for <c>swizzled128x4</c>, [E_loc, N, C/16] for <c>linear</c>. The file is authoritative (see
/// <see cref="MoeLayerData.EnsureAgrees"/>).
/// </summary>
public static class LayerFile
{
    /// <summary>Tensor name of FC1's codes.</summary>
    public const string W1WeightName = "w1_weight";

    /// <summary>Tensor name of FC1's block scales.</summary>
    public const string W1WeightSfName = "w1_weight_sf";

    /// <summary>Tensor name of FC2's codes.</summary>
    public const string W2WeightName = "w2_weight";

    /// <summary>Tensor name of FC2's block scales.</summary>
    public const string W2WeightSfName = "w2_weight_sf";

    /// <summary>Tensor name of FC1's output scale.</summary>
    public const string W1AlphaName = "w1_alpha";

    /// <summary>Tensor name of FC2's output scale.</summary>
    public const string W2AlphaName = "w2_alpha";

    /// <summary>Tensor name of the FC2-input quantisation scale.</summary>
    public const string Fc2InputScaleName = "fc2_input_scale";

    /// <summary>Tensor name of the FC1-input quantisation scale.</summary>
    public const string InputGlobalScaleName = "input_global_scale";

    /// <summary>Metadata key: "silu" | "relu2".</summary>
    public const string ActivationKey = "activation";

    /// <summary>Metadata key: "nvfp4" | "w4a4" | "fp4" | "w4a16" | "bf16".</summary>
    public const string QuantModeKey = "quant_mode";

    /// <summary>Metadata key: "modelopt" | "compressed_tensors".</summary>
    public const string SourceFormatKey = "source_format";

    /// <summary>Metadata key: E, decimal.</summary>
    public const string NumExpertsKey = "num_experts";

    /// <summary>Metadata key: K, decimal.</summary>
    public const string TopKKey = "top_k";

    /// <summary>Metadata key: E_loc, decimal.</summary>
    public const string NumLocalExpertsKey = "num_local_experts";

    /// <summary>Metadata key: the first local expert's global id, decimal.</summary>
    public const string LocalExpertOffsetKey = "local_expert_offset";

    /// <summary>Metadata key: "swizzled128x4" | "linear"; required.</summary>
    public const string ScaleLayoutKey = "scale_layout";

    private static readonly string[] s_scalarTensors = [W1AlphaName, W2AlphaName, Fc2InputScaleName, InputGlobalScaleName];

    private static readonly string[] s_layerKeys =
    [
        ActivationKey, QuantModeKey, SourceFormatKey, NumExpertsKey, TopKKey, NumLocalExpertsKey, LocalExpertOffsetKey, ScaleLayoutKey,
    ];

    /// <summary>True when <paramref name="reader"/>'s file looks like a layer file (it holds <c>w1_weight</c>).</summary>
    public static bool IsLayerFile(SafetensorsReader reader) => reader.Contains(W1WeightName);

    /// <summary>
    /// Validates the layer file open in <paramref name="reader"/> and returns its configuration without reading the
    /// weights.
    /// </summary>
    /// <exception cref="InvalidDataException">The file breaks a layer-file rule; the message names the key or tensor.</exception>
    public static MoeLayerConfig ReadConfig(SafetensorsReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return LayerFileSchema.Validate(
            reader.Metadata,
            reader.Tensors.ToDictionary(t => t.Name, TensorSignature.Of, StringComparer.Ordinal),
            reason => Invalid(reader.Path, reason));
    }

    /// <summary>Loads a layer file's tensors onto <paramref name="device"/> (default CPU), scales as uint8 tensors.</summary>
    /// <exception cref="InvalidDataException">The file is malformed or breaks a layer-file rule.</exception>
    public static MoeLayerData Load(string path, Device? device = null)
    {
        using SafetensorsReader reader = SafetensorsReader.Open(path);
        MoeLayerConfig config = ReadConfig(reader);
        var loaded = new List<Tensor>();
        try
        {
            Tensor Read(string name)
            {
                Tensor tensor = reader.ReadTensor(name, device);
                loaded.Add(tensor);
                return tensor;
            }
            Tensor? ReadScalars(string name)
            {
                if (!reader.Contains(name))
                {
                    return null;
                }
                Tensor host = reader.ReadTensor(name);
                loaded.Add(host);
                CheckScalarValues(host, name, reason => Invalid(path, reason));
                if (device is null || device.type == DeviceType.CPU)
                {
                    return host;
                }
                Tensor moved = host.to(device);
                loaded.Add(moved);
                host.Dispose();
                return moved;
            }
            return new MoeLayerData(
                config, Read(W1WeightName), Read(W1WeightSfName), Read(W2WeightName), Read(W2WeightSfName),
                ReadScalars(W1AlphaName)!, ReadScalars(W2AlphaName)!, ReadScalars(Fc2InputScaleName), ReadScalars(InputGlobalScaleName))
            {
                SourcePath = path,
            };
        }
        catch
        {
            loaded.ForEach(t => t.Dispose());
            throw;
        }
    }

    /// <summary>
    /// Writes <paramref name="layer"/> as a layer file (atomically: a failure leaves no partial file). Scales are
    /// written as F8_E4M3; every layer key is written explicitly. In NVFP4 mode the layer must carry
    /// <c>input_global_scale</c> (semantics.md §Scales: files without it are the silent 10³× trap) unless
    /// <paramref name="legacyScales"/> is set.
    /// </summary>
    /// <param name="path">The target file; replaced if it exists.</param>
    /// <param name="layer">The tensors and configuration to write.</param>
    /// <param name="extraMetadata">More metadata entries (e.g. where the layer came from); must not use a layer key.</param>
    /// <param name="progress">Receives the data bytes written so far.</param>
    /// <param name="legacyScales">
    /// Allow an nvfp4 layer without <c>input_global_scale</c>: FlashInfer's older convention, where the weights' global
    /// scales are baked into the block scales and <c>w1_alpha</c> is the input's quantisation scale. Only for callers
    /// of FlashInfer's original signature (e.g. <c>b12x import --legacy-scales</c>).
    /// </param>
    /// <exception cref="ArgumentException">The tensors do not match the configuration or break a layer-file rule.</exception>
    public static void Save(
        string path, MoeLayerData layer, IReadOnlyDictionary<string, string>? extraMetadata = null, IProgress<long>? progress = null,
        bool legacyScales = false)
    {
        ArgumentNullException.ThrowIfNull(layer);
        Exception Fail(string reason) => new ArgumentException($"The layer cannot be saved: {reason}.", nameof(layer));

        List<(string Name, Tensor Tensor, SafetensorsDtype? Dtype)> tensors = TensorsOf(layer);
        CheckTensors(layer, Fail);
        IReadOnlyList<KeyValuePair<string, string>> metadata = LayerFileSchema.Metadata(layer.Config).ToList();
        if (layer.Config.QuantMode == MoeQuantMode.Nvfp4 && layer.InputGlobalScale is null && !legacyScales)
        {
            throw Fail($"'{InputGlobalScaleName}' is required for nvfp4 layers written by this library: without it w1_alpha doubles as " +
                "the input's quantisation scale (the older convention, see semantics.md §Scales)");
        }
        foreach ((string name, Tensor tensor, SafetensorsDtype? _) in tensors.Where(t => s_scalarTensors.Contains(t.Name)))
        {
            using Tensor host = tensor.cpu();
            CheckScalarValues(host, name, Fail);
        }

        var writer = new SafetensorsWriter();
        foreach (KeyValuePair<string, string> entry in metadata)
        {
            writer.AddMetadata(entry.Key, entry.Value);
        }
        foreach (KeyValuePair<string, string> entry in extraMetadata ?? new Dictionary<string, string>())
        {
            if (s_layerKeys.Contains(entry.Key))
            {
                throw new ArgumentException($"extraMetadata must not set the layer key '{entry.Key}'; it comes from layer.Config.", nameof(extraMetadata));
            }
            writer.AddMetadata(entry.Key, entry.Value);
        }
        foreach ((string name, Tensor tensor, SafetensorsDtype? dtype) in tensors)
        {
            writer.Add(name, tensor, dtype);
        }
        writer.Save(path, progress);
    }

    /// <summary>
    /// Checks that <paramref name="layer"/>'s tensors have the dtypes and shapes its configuration implies (the rules a
    /// layer file's tensors follow), without looking at values.
    /// </summary>
    internal static void CheckTensors(MoeLayerData layer, Func<string, Exception> fail)
    {
        var signatures = new Dictionary<string, TensorSignature>(StringComparer.Ordinal);
        foreach ((string name, Tensor tensor, SafetensorsDtype? _) in TensorsOf(layer))
        {
            TensorChecks.NotNull(tensor, name);
            signatures[name] = SignatureOf(tensor, name, fail);
        }
        var metadata = LayerFileSchema.Metadata(layer.Config).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        MoeLayerConfig derived = LayerFileSchema.Validate(metadata, signatures, fail);
        if (derived != layer.Config)
        {
            throw fail($"the configuration says H = {layer.Config.Hidden}, I = {layer.Config.Intermediate}, E_loc = {layer.Config.NumLocalExperts} " +
                $"but the tensors give H = {derived.Hidden}, I = {derived.Intermediate}, E_loc = {derived.NumLocalExperts}");
        }
    }

    /// <summary>The layer's tensors with their file names, block scales marked to be written as F8_E4M3.</summary>
    private static List<(string Name, Tensor Tensor, SafetensorsDtype? Dtype)> TensorsOf(MoeLayerData layer)
    {
        var tensors = new List<(string Name, Tensor Tensor, SafetensorsDtype? Dtype)>
        {
            (W1WeightName, layer.W1Weight, null),
            (W1WeightSfName, layer.W1WeightSf, SafetensorsDtype.F8E4M3),
            (W2WeightName, layer.W2Weight, null),
            (W2WeightSfName, layer.W2WeightSf, SafetensorsDtype.F8E4M3),
            (W1AlphaName, layer.W1Alpha, null),
            (W2AlphaName, layer.W2Alpha, null),
        };
        if (layer.Fc2InputScale is not null)
        {
            tensors.Add((Fc2InputScaleName, layer.Fc2InputScale, null));
        }
        if (layer.InputGlobalScale is not null)
        {
            tensors.Add((InputGlobalScaleName, layer.InputGlobalScale, null));
        }
        return tensors;
    }

    internal static TensorSignature SignatureOf(Tensor tensor, string name, Func<string, Exception> fail)
    {
        try
        {
            return new TensorSignature(SafetensorsDtypes.FromScalarType(tensor.dtype), tensor.shape);
        }
        catch (NotSupportedException)
        {
            throw fail($"tensor '{name}' has dtype {TensorChecks.DtypeName(tensor.dtype)}, which a layer file cannot hold");
        }
    }

    private static void CheckScalarValues(Tensor host, string name, Func<string, Exception> fail)
    {
        using Tensor contiguous = host.contiguous();
        ReadOnlySpan<float> values = TensorPointers.HostSpan<float>(contiguous);
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]) || !(values[i] > 0))
            {
                throw fail($"tensor '{name}'[{i}] = {values[i]:R} must be finite and > 0");
            }
        }
    }

    private static InvalidDataException Invalid(string path, string reason) => new($"{path} is not a valid layer file: {reason}.");
}
