using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Quantization;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// Turns a Hugging Face MoE checkpoint with bf16, f16 or f32 expert weights into a ModelOpt-format NVFP4 checkpoint
/// (checkpoint-formats.md §2): each routed expert projection's <c>weight</c> becomes <c>weight</c> (U8 [N, K/2]),
/// <c>weight_scale</c> (F8_E4M3 [N, K/16]), <c>weight_scale_2</c> and <c>input_scale</c> (F32 []), quantised with
/// ModelOpt's recipe; gate and up of an expert share one <c>weight_scale_2</c> (the larger amax, as ModelOpt 0.35+
/// exports). Every other tensor is copied unchanged, into files of the same names (and an updated shard index);
/// <c>hf_quant_config.json</c> is written (quant_algo NVFP4, group_size 16, every other module in exclude_modules);
/// config.json and the other small files are copied. Memory: one layer's weights (first pass) and one output file's
/// NVFP4 tensors (second pass); other tensors stream from the memory map.
/// </summary>
public static class CheckpointQuantizer
{
    /// <summary>E2M1 max × E4M3 max: an input scale is amax/2688 (checkpoint-formats.md §1).</summary>
    private const double FullScale = 6.0 * 448.0;

    /// <summary>Unquantised linear weights are named "{module}.weight" (ModelOpt keeps that name for the packed codes).</summary>
    private const string WeightSuffix = ".weight";

    /// <summary>
    /// Quantises the routed experts of <paramref name="checkpoint"/> into <paramref name="output"/> and returns the
    /// per-layer weight errors.
    /// </summary>
    /// <param name="checkpoint">The source directory (config.json, model.safetensors or a shard index and its shards).</param>
    /// <param name="output">The target directory (created if missing; files of the same names are replaced); not the source.</param>
    /// <param name="options">Layers, calibration and progress; null for <see cref="CheckpointQuantizationOptions.Default"/>.</param>
    /// <exception cref="ArgumentException">The output is the source directory, or a requested layer is out of range.</exception>
    /// <exception cref="NotSupportedException">The checkpoint is already quantised.</exception>
    /// <exception cref="InvalidDataException">A config key, tensor or calibration tensor is missing or malformed, or a
    /// requested layer has no routed experts.</exception>
    public static CheckpointQuantizationResult Quantize(string checkpoint, string output, CheckpointQuantizationOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(checkpoint);
        ArgumentException.ThrowIfNullOrEmpty(output);
        options ??= CheckpointQuantizationOptions.Default;
        if (!Directory.Exists(checkpoint))
        {
            throw new DirectoryNotFoundException($"The checkpoint directory {checkpoint} does not exist.");
        }
        if (string.Equals(Path.GetFullPath(checkpoint).TrimEnd('/'), Path.GetFullPath(output).TrimEnd('/'), StringComparison.Ordinal))
        {
            throw new ArgumentException($"The output directory must differ from the checkpoint directory {checkpoint}.", nameof(output));
        }
        CheckpointModelConfig model = CheckpointModelConfig.Read(checkpoint);
        if (File.Exists(Path.Combine(checkpoint, CheckpointQuantization.HfQuantConfigFileName)) || model.QuantizationConfig is not null)
        {
            throw new NotSupportedException(
                $"{checkpoint} is already quantised ({CheckpointQuantization.HfQuantConfigFileName} or a quantization_config in {CheckpointModelConfig.FileName}); " +
                "quantising needs bf16, f16 or f32 expert weights.");
        }

        using CheckpointTensors tensors = CheckpointTensors.Open(checkpoint);
        var plans = new Dictionary<string, PlannedWeight>(StringComparer.Ordinal);
        var results = new List<LayerQuantizationResult>();
        int[] layers = SelectLayers(checkpoint, model, tensors, options.Layers);
        using (CalibrationActivations? calibration = options.CalibrationPath is null ? null : CalibrationActivations.Open(options.CalibrationPath, model.Hidden))
        {
            for (int i = 0; i < layers.Length; i++)
            {
                ExpertNaming naming = ExpertNaming.Detect(tensors.Contains, layers[i], WeightSuffix)!;
                LayerQuantizationResult result = PlanLayer(layers[i], naming, model, tensors, calibration, plans);
                results.Add(result);
                options.Progress?.Report(string.Create(CultureInfo.InvariantCulture,
                    $"layer {result.Layer} ({i + 1}/{layers.Length}): {result.Experts} experts, weight rel L2 error {result.Error:F4}"));
            }
        }

        Directory.CreateDirectory(output);
        var written = new List<string>();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var excluded = new SortedSet<string>(StringComparer.Ordinal);
        long totalBytes = 0;
        for (int i = 0; i < tensors.Files.Count; i++)
        {
            string file = tensors.Files[i];
            options.Progress?.Report($"writing {file} ({i + 1}/{tensors.Files.Count})");
            totalBytes += WriteFile(tensors, model, file, Path.Combine(output, file), plans, weightMap, excluded);
            written.Add(file);
        }
        if (tensors.IndexPath is string index)
        {
            WriteIndex(Path.Combine(output, Path.GetFileName(index)), weightMap, totalBytes);
            written.Add(Path.GetFileName(index));
        }
        WriteHfQuantConfig(Path.Combine(output, CheckpointQuantization.HfQuantConfigFileName), excluded);
        written.Add(CheckpointQuantization.HfQuantConfigFileName);
        foreach (string file in Directory.GetFiles(checkpoint).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal))
        {
            if (!file.EndsWith(".safetensors", StringComparison.Ordinal) && file != Path.GetFileName(tensors.IndexPath))
            {
                File.Copy(Path.Combine(checkpoint, file), Path.Combine(output, file), overwrite: true);
                written.Add(file);
            }
        }
        return new CheckpointQuantizationResult(results, written, options.CalibrationPath is not null);
    }

    private static int[] SelectLayers(string checkpoint, CheckpointModelConfig model, CheckpointTensors tensors, IReadOnlyCollection<int>? requested)
    {
        SortedSet<int> moe = ExpertNaming.MoeLayers(tensors.Names);
        if (requested is null)
        {
            return moe.Count > 0
                ? [.. moe]
                : throw new InvalidDataException($"{checkpoint}: no layer has routed experts under a recognised name (checkpoint-formats.md §6).");
        }
        foreach (int layer in requested)
        {
            if (layer < 0 || (model.NumLayers is int count && layer >= count))
            {
                throw new ArgumentOutOfRangeException("options", layer,
                    $"Layers contains {layer}, but {model.Path} has num_hidden_layers = {model.NumLayers?.ToString(CultureInfo.InvariantCulture) ?? "(not given)"}.");
            }
            if (!moe.Contains(layer))
            {
                throw new InvalidDataException(
                    $"{checkpoint}: layer {layer} has no routed experts; layers with routed experts: {(moe.Count == 0 ? "none" : IndexRanges.Format(moe))}.");
            }
        }
        return [.. requested.Distinct().Order()];
    }

    private static LayerQuantizationResult PlanLayer(
        int layer, ExpertNaming naming, CheckpointModelConfig model, CheckpointTensors tensors, CalibrationActivations? calibration,
        Dictionary<string, PlannedWeight> plans)
    {
        int experts = model.NumExperts, hidden = model.Hidden, intermediate = model.Intermediate;
        using DisposeScope scope = NewDisposeScope();
        Tensor? x = calibration?.ForLayer(layer);
        float inputScale = CheckpointQuantizationOptions.DefaultInputScale;
        if (x is not null)
        {
            double amax = x.abs().max().item<double>();
            inputScale = amax > 0
                ? (float)(amax / FullScale)
                : throw new InvalidDataException($"The calibration tokens of layer {layer} are all zero; they give no input scale.");
        }
        var downAmax = new double[experts];
        (double Difference, double Norm) gateUp = (0, 0), down = (0, 0);
        for (int e = 0; e < experts; e++)
        {
            string upModule = naming.Module(layer, e, naming.Up), downModule = naming.Module(layer, e, naming.Down);
            string? gateModule = naming.Gated ? naming.Module(layer, e, naming.Gate!) : null;
            float[] upWeights = ReadWeights(tensors, upModule, intermediate, hidden, model);
            float[]? gateWeights = gateModule is null ? null : ReadWeights(tensors, gateModule, intermediate, hidden, model);
            float[] downWeights = ReadWeights(tensors, downModule, hidden, intermediate, model);
            float upAmax = ExpertWeightQuantizer.Amax(upWeights, upModule + WeightSuffix);
            float gateAmax = gateModule is null ? 0 : ExpertWeightQuantizer.Amax(gateWeights!, gateModule + WeightSuffix);
            // One global scale for gate and up, from the larger amax (ModelOpt 0.35+; serving stacks require it).
            float gateUpScale = WeightBlockQuantizer.GlobalScale(MathF.Max(upAmax, gateAmax));
            float downScale = WeightBlockQuantizer.GlobalScale(ExpertWeightQuantizer.Amax(downWeights, downModule + WeightSuffix));

            float[] upDequantised = Roundtrip(upWeights, intermediate, hidden, gateUpScale, ref gateUp);
            float[]? gateDequantised = gateWeights is null ? null : Roundtrip(gateWeights, intermediate, hidden, gateUpScale, ref gateUp);
            Roundtrip(downWeights, hidden, intermediate, downScale, ref down);
            plans[upModule + WeightSuffix] = new PlannedWeight(upModule, intermediate, hidden, gateUpScale, inputScale);
            if (gateModule is not null)
            {
                plans[gateModule + WeightSuffix] = new PlannedWeight(gateModule, intermediate, hidden, gateUpScale, inputScale);
            }
            plans[downModule + WeightSuffix] = new PlannedWeight(downModule, hidden, intermediate, downScale, CheckpointQuantizationOptions.DefaultInputScale);
            if (x is not null)
            {
                downAmax[e] = ActivationAmax(x, upDequantised, gateDequantised, intermediate, hidden);
            }
        }
        var downInput = new float[experts];
        double largest = downAmax.Max();
        for (int e = 0; e < experts; e++)
        {
            // An expert whose activations are all zero gets the largest scale of the layer (ModelOpt's rule for
            // uncalibrated experts); without calibration every expert gets the default.
            double amax = downAmax[e] > 0 ? downAmax[e] : largest;
            downInput[e] = x is null || amax == 0 ? CheckpointQuantizationOptions.DefaultInputScale : (float)(amax / FullScale);
            string downWeight = naming.Module(layer, e, naming.Down) + WeightSuffix;
            plans[downWeight] = plans[downWeight] with { InputScale = downInput[e] };
        }
        return new LayerQuantizationResult(
            layer, experts, Relative(gateUp), Relative(down), Relative((gateUp.Difference + down.Difference, gateUp.Norm + down.Norm)),
            inputScale, downInput.Min(), downInput.Max());
    }

    private static float[] Roundtrip(float[] weights, int rows, int columns, float globalScale, ref (double Difference, double Norm) sums)
    {
        (byte[] codes, byte[] scales) = ExpertWeightQuantizer.Quantize(weights, rows, columns, globalScale);
        float[] dequantised = ExpertWeightQuantizer.Dequantize(codes, scales, rows, columns, globalScale);
        (double difference, double norm) = ExpertWeightQuantizer.ErrorSums(weights, dequantised);
        sums = (sums.Difference + difference, sums.Norm + norm);
        return dequantised;
    }

    /// <summary>max |act(x·W_gateᵀ)·(x·W_upᵀ)| (relu(x·W_upᵀ)² without a gate) over all tokens, in float64.</summary>
    private static double ActivationAmax(Tensor x, float[] up, float[]? gate, int intermediate, int hidden)
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor u = x.matmul(tensor(up, new long[] { intermediate, hidden }).to(ScalarType.Float64).t());
        Tensor a = gate is null
            ? u.relu().square()
            : nn.functional.silu(x.matmul(tensor(gate, new long[] { intermediate, hidden }).to(ScalarType.Float64).t())).mul(u);
        return a.abs().max().item<double>();
    }

    private static float[] ReadWeights(CheckpointTensors tensors, string module, int rows, int columns, CheckpointModelConfig model)
    {
        string name = module + WeightSuffix;
        SafetensorsTensorInfo info = tensors.Find(name)
            ?? throw new InvalidDataException($"Tensor '{name}' is missing; expected BF16, F16 or F32 [{rows}, {columns}].");
        if (info.Dtype is not (SafetensorsDtype.BF16 or SafetensorsDtype.F16 or SafetensorsDtype.F32))
        {
            throw new InvalidDataException(
                $"Tensor '{name}' in {tensors.FileOf(name)} has dtype {SafetensorsDtypes.ToName(info.Dtype)}; quantising needs BF16, F16 or F32.");
        }
        if (info.Shape.Count != 2 || info.Shape[0] != rows || info.Shape[1] != columns)
        {
            throw new InvalidDataException(
                $"Tensor '{name}' in {tensors.FileOf(name)} has shape {info.ShapeText}; expected [{rows}, {columns}] " +
                $"(from hidden_size and {model.IntermediateKey} of {model.Path}).");
        }
        using Tensor raw = tensors.ReaderOf(name).ReadTensor(name);
        using Tensor values = raw.to(ScalarType.Float32);
        return TensorPointers.HostSpan<float>(values).ToArray();
    }

    /// <summary>Writes one output file: planned weights as NVFP4 tensors, everything else as it is. Returns its data bytes.</summary>
    private static long WriteFile(
        CheckpointTensors tensors, CheckpointModelConfig model, string file, string path, Dictionary<string, PlannedWeight> plans,
        SortedDictionary<string, string> weightMap, SortedSet<string> excluded)
    {
        SafetensorsReader reader = tensors.Reader(file);
        var writer = new SafetensorsWriter();
        foreach ((string key, string value) in reader.Metadata)
        {
            writer.AddMetadata(key, value);
        }
        var keep = new List<Tensor>();
        try
        {
            foreach (SafetensorsTensorInfo info in reader.Tensors)
            {
                if (plans.TryGetValue(info.Name, out PlannedWeight? plan))
                {
                    float[] weights = ReadWeights(tensors, plan.Module, plan.Rows, plan.Columns, model);
                    (byte[] codes, byte[] scales) = ExpertWeightQuantizer.Quantize(weights, plan.Rows, plan.Columns, plan.WeightScale);
                    writer.Add(plan.Module + WeightSuffix, SafetensorsDtype.U8, [plan.Rows, plan.Columns / 2], codes);
                    writer.Add(plan.Module + CheckpointQuantization.BlockScaleSuffix, SafetensorsDtype.F8E4M3, [plan.Rows, plan.Columns / CheckpointQuantization.GroupSize], scales);
                    writer.Add(plan.Module + ".weight_scale_2", SafetensorsDtype.F32, [], BitConverter.GetBytes(plan.WeightScale));
                    writer.Add(plan.Module + ".input_scale", SafetensorsDtype.F32, [], BitConverter.GetBytes(plan.InputScale));
                    continue;
                }
                if (info.ByteLength <= int.MaxValue)
                {
                    writer.Add(info.Name, info.Dtype, info.Shape, MappedMemory.Of(reader.GetBytes(info.Name)));
                }
                else
                {
                    Tensor large = reader.ReadTensor(info.Name);
                    keep.Add(large);
                    writer.Add(info.Name, large, info.Dtype);
                }
                if (info.Name.EndsWith(WeightSuffix, StringComparison.Ordinal))
                {
                    excluded.Add(info.Name[..^WeightSuffix.Length]);
                }
            }
            foreach (SafetensorsTensorInfo added in writer.Tensors)
            {
                weightMap[added.Name] = file;
            }
            writer.Save(path);
            return writer.DataBytes;
        }
        finally
        {
            keep.ForEach(t => t.Dispose());
        }
    }

    private static void WriteIndex(string path, SortedDictionary<string, string> weightMap, long totalBytes)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartObject("metadata");
        json.WriteNumber("total_size", totalBytes);
        json.WriteEndObject();
        json.WriteStartObject("weight_map");
        foreach ((string name, string file) in weightMap)
        {
            json.WriteString(name, file);
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>hf_quant_config.json in ModelOpt's nested form (checkpoint-formats.md §2.1).</summary>
    private static void WriteHfQuantConfig(string path, SortedSet<string> excluded)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartObject("producer");
        json.WriteString("name", "b12x");
        json.WriteString("version", typeof(CheckpointQuantizer).Assembly.GetName().Version?.ToString() ?? "0");
        json.WriteEndObject();
        json.WriteStartObject("quantization");
        json.WriteString("quant_algo", "NVFP4");
        json.WriteNull("kv_cache_quant_algo");
        json.WriteNumber("group_size", CheckpointQuantization.GroupSize);
        json.WriteStartArray("exclude_modules");
        foreach (string module in excluded)
        {
            json.WriteStringValue(module);
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static double Relative((double Difference, double Norm) sums) => sums.Norm > 0 ? Math.Sqrt(sums.Difference / sums.Norm) : 0;

    /// <summary>How one expert weight is written: its module, shape, and the two global scales.</summary>
    private sealed record PlannedWeight(string Module, int Rows, int Columns, float WeightScale, float InputScale);
}
