using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Reference;

namespace Microsoft.ML.B12x.Tests.IO.Checkpoints;

/// <summary>Which family's module and config names a tiny checkpoint uses (checkpoint-formats.md §6).</summary>
internal enum ExpertNames
{
    /// <summary>model.layers.L.mlp.experts.E.{gate_proj,up_proj,down_proj}; num_experts, moe_intermediate_size.</summary>
    Qwen,

    /// <summary>model.layers.L.block_sparse_moe.experts.E.{w1,w3,w2}; num_local_experts, intermediate_size.</summary>
    Mixtral,

    /// <summary>backbone.layers.L.mixer.experts.E.{up_proj,down_proj}, relu2; n_routed_experts, mlp_hidden_act.</summary>
    Nemotron,
}

internal sealed record TinyCheckpointSpec
{
    public CheckpointFormat Format { get; init; } = CheckpointFormat.ModelOpt;

    public ExpertNames Names { get; init; } = ExpertNames.Qwen;

    /// <summary>ModelOpt W4A16_NVFP4 or compressed-tensors without input_activations.</summary>
    public bool WeightOnly { get; init; }

    /// <summary>Two shards and an index instead of one model.safetensors.</summary>
    public bool Sharded { get; init; }

    /// <summary>ModelOpt global scales as [1] (0.23) instead of [] (0.25 and later); compressed-tensors always writes [1].</summary>
    public bool ScalarsAsVectors { get; init; }

    public int Layers { get; init; } = 2;

    public int Experts { get; init; } = 4;

    public int Hidden { get; init; } = 64;

    public int Intermediate { get; init; } = 32;

    public int TopK { get; init; } = 2;

    public int Seed { get; init; }
}

/// <summary>A tensor as written to a safetensors file.</summary>
internal sealed record StoredTensor(string Name, SafetensorsDtype Dtype, long[] Shape, byte[] Data);

/// <summary>
/// A tiny NVFP4 MoE checkpoint built by the tests from random bytes (codes, block scales with subnormal, zero and
/// saturated bytes, per-expert global scales), written with the library's safetensors writer. The tests keep the
/// stored values, so their reference evaluates exactly what is on disk; mutate <see cref="Layers"/>,
/// <see cref="Config"/>, <see cref="HfQuantConfig"/> or set <see cref="Override"/> before <see cref="Write"/>.
/// </summary>
internal sealed class TinyCheckpoint
{
    /// <summary>E2M1 max × E4M3 max: an input scale is amax/2688.</summary>
    private const double FullScale = 6.0 * 448.0;

    private const int CalibrationTokens = 32;

    private TinyCheckpoint(TinyCheckpointSpec spec, TinyMoeLayer[] layers, JsonObject config, JsonObject? hfQuantConfig, List<StoredTensor> others)
    {
        Spec = spec;
        Layers = layers;
        Config = config;
        HfQuantConfig = hfQuantConfig;
        Others = others;
    }

    public TinyCheckpointSpec Spec { get; }

    public TinyMoeLayer[] Layers { get; }

    public JsonObject Config { get; }

    public JsonObject? HfQuantConfig { get; set; }

    /// <summary>Non-expert tensors (embeddings, routers, norms) in BF16.</summary>
    public List<StoredTensor> Others { get; }

    /// <summary>Applied to every tensor when writing: return a changed tensor, or null to leave it out.</summary>
    public Func<StoredTensor, StoredTensor?>? Override { get; set; }

    public string Root => Spec.Names == ExpertNames.Nemotron ? "backbone.layers" : "model.layers";

    public string Block => Spec.Names switch { ExpertNames.Mixtral => "block_sparse_moe", ExpertNames.Nemotron => "mixer", _ => "mlp" };

    public string GateName => Spec.Names == ExpertNames.Mixtral ? "w1" : "gate_proj";

    public string UpName => Spec.Names == ExpertNames.Mixtral ? "w3" : "up_proj";

    public string DownName => Spec.Names == ExpertNames.Mixtral ? "w2" : "down_proj";

    public string Module(int layer, int expert, string projection) => $"{Root}.{layer}.{Block}.experts.{expert}.{projection}";

    public string WeightSuffix => Spec.Format == CheckpointFormat.ModelOpt ? ".weight" : ".weight_packed";

    public string WeightGlobalSuffix => Spec.Format == CheckpointFormat.ModelOpt ? ".weight_scale_2" : ".weight_global_scale";

    public string InputGlobalSuffix => Spec.Format == CheckpointFormat.ModelOpt ? ".input_scale" : ".input_global_scale";

    public static TinyCheckpoint Create(TinyCheckpointSpec spec)
    {
        var random = new Random(spec.Seed);
        bool gated = spec.Names != ExpertNames.Nemotron;
        float[] calibration = TestTokens.Normal(random, CalibrationTokens * spec.Hidden);
        float fc1Input = (float)(calibration.Max(v => Math.Abs(v)) / FullScale);
        var layers = new TinyMoeLayer[spec.Layers];
        for (int l = 0; l < spec.Layers; l++)
        {
            StoredProjection Projection(int rows, int columns) => new()
            {
                Rows = rows, Columns = columns,
                Codes = RandomBytes(random, rows * columns / 2),
                Scales = RandomScales(random, rows * columns / 16),
                // Per-expert weight global scales of real size: amax/2688 for weight amaxes of about 0.27 to 0.8.
                WeightGlobal = (float)(2e-4 * (0.5 + random.NextDouble())),
            };
            var layer = new TinyMoeLayer
            {
                Gate = Enumerable.Range(0, spec.Experts).Select(_ => gated ? Projection(spec.Intermediate, spec.Hidden) : null).ToArray(),
                Up = Enumerable.Range(0, spec.Experts).Select(_ => Projection(spec.Intermediate, spec.Hidden)).ToArray(),
                Down = Enumerable.Range(0, spec.Experts).Select(_ => Projection(spec.Hidden, spec.Intermediate)).ToArray(),
            };
            for (int e = 0; e < spec.Experts; e++)
            {
                // One global scale for gate and up, as ModelOpt 0.35+ and llm-compressor 0.11+ export them (T6).
                if (layer.Gate[e] is StoredProjection g)
                {
                    layer.Up[e].WeightGlobal = g.WeightGlobal;
                }
            }
            if (!spec.WeightOnly)
            {
                // Calibrated as ModelOpt 0.33+ and llm-compressor do: gate/up input scales equal across experts, down
                // input scales per expert (the activation amax of all calibration tokens, times 0.6-1 so some clip).
                for (int e = 0; e < spec.Experts; e++)
                {
                    double amax = CheckpointReference.ActivationAmax(layer, e, CheckpointFormat.ModelOpt, calibration, spec.Hidden);
                    float fc2Input = (float)(amax * (0.6 + 0.4 * random.NextDouble()) / FullScale);
                    if (layer.Gate[e] is StoredProjection g)
                    {
                        g.InputGlobal = fc1Input;
                    }
                    layer.Up[e].InputGlobal = fc1Input;
                    layer.Down[e].InputGlobal = fc2Input;
                }
            }
            layers[l] = layer;
        }
        if (spec.Format == CheckpointFormat.CompressedTensors)
        {
            foreach (StoredProjection p in layers.SelectMany(l => l.Gate.Concat(l.Up).Concat(l.Down)).OfType<StoredProjection>())
            {
                p.WeightGlobal = 1f / p.WeightGlobal;
                p.InputGlobal = 1f / p.InputGlobal;
            }
        }
        var checkpoint = new TinyCheckpoint(spec, layers, new JsonObject(), null, []);
        checkpoint.BuildConfigs();
        checkpoint.BuildOthers(random);
        return checkpoint;
    }

    /// <summary>Writes config.json, the quantisation config and the safetensors file(s) into <paramref name="directory"/>.</summary>
    public void Write(string directory)
    {
        Directory.CreateDirectory(directory);
        var options = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(Path.Combine(directory, "config.json"), Config.ToJsonString(options));
        if (HfQuantConfig is not null)
        {
            File.WriteAllText(Path.Combine(directory, "hf_quant_config.json"), HfQuantConfig.ToJsonString(options));
        }
        List<StoredTensor> tensors = AllTensors().Select(t => Override is null ? t : Override(t)).OfType<StoredTensor>().ToList();
        if (!Spec.Sharded)
        {
            Save(Path.Combine(directory, "model.safetensors"), tensors);
            return;
        }
        // Shard 1: layer 0, the embedding and layer 1's expert-0 gate (so one expert's gate and up live in different
        // shards); shard 2: the rest.
        string crossing = Module(1, 0, Layers[0].Gated ? GateName : UpName);
        bool InFirst(StoredTensor t) => t.Name.StartsWith($"{Root}.0.", StringComparison.Ordinal) ||
            t.Name.StartsWith("model.embed", StringComparison.Ordinal) || t.Name.StartsWith(crossing + ".", StringComparison.Ordinal);
        string first = "model-00001-of-00002.safetensors", second = "model-00002-of-00002.safetensors";
        Save(Path.Combine(directory, first), tensors.Where(InFirst).ToList());
        Save(Path.Combine(directory, second), tensors.Where(t => !InFirst(t)).ToList());
        var map = new JsonObject();
        foreach (StoredTensor t in tensors)
        {
            map[t.Name] = InFirst(t) ? first : second;
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = tensors.Sum(t => (long)t.Data.Length) }, ["weight_map"] = map };
        File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"), index.ToJsonString(options));
    }

    /// <summary>Every tensor in file order: the others, then layer by layer, expert by expert.</summary>
    public IEnumerable<StoredTensor> AllTensors()
    {
        foreach (StoredTensor t in Others)
        {
            yield return t;
        }
        for (int l = 0; l < Layers.Length; l++)
        {
            for (int e = 0; e < Spec.Experts; e++)
            {
                var projections = new List<(string, StoredProjection)>();
                if (Layers[l].Gate[e] is StoredProjection gate)
                {
                    projections.Add((GateName, gate));
                }
                projections.Add((UpName, Layers[l].Up[e]));
                projections.Add((DownName, Layers[l].Down[e]));
                foreach ((string name, StoredProjection p) in projections)
                {
                    string module = Module(l, e, name);
                    yield return new StoredTensor(module + WeightSuffix, SafetensorsDtype.U8, [p.Rows, p.Columns / 2], p.Codes);
                    yield return new StoredTensor(module + ".weight_scale", SafetensorsDtype.F8E4M3, [p.Rows, p.Columns / 16], p.Scales);
                    yield return Scalar(module + WeightGlobalSuffix, p.WeightGlobal);
                    if (p.InputGlobal is float input)
                    {
                        yield return Scalar(module + InputGlobalSuffix, input);
                    }
                }
            }
        }
    }

    /// <summary>An F32 scalar in the spec's shape: [] for ModelOpt (unless <see cref="TinyCheckpointSpec.ScalarsAsVectors"/>), [1] for compressed-tensors.</summary>
    public StoredTensor Scalar(string name, float value) => new(
        name, SafetensorsDtype.F32,
        Spec.Format == CheckpointFormat.CompressedTensors || Spec.ScalarsAsVectors ? [1] : [],
        BitConverter.GetBytes(value));

    private void BuildConfigs()
    {
        TinyCheckpointSpec s = Spec;
        Config["architectures"] = new JsonArray(s.Names switch
        {
            ExpertNames.Qwen => "Qwen3MoeForCausalLM", ExpertNames.Mixtral => "MixtralForCausalLM", _ => "NemotronHForCausalLM",
        });
        Config["model_type"] = s.Names switch { ExpertNames.Qwen => "qwen3_moe", ExpertNames.Mixtral => "mixtral", _ => "nemotron_h" };
        Config["hidden_size"] = s.Hidden;
        Config["num_hidden_layers"] = s.Layers;
        Config["num_experts_per_tok"] = s.TopK;
        switch (s.Names)
        {
            case ExpertNames.Qwen:
                Config["num_experts"] = s.Experts;
                Config["moe_intermediate_size"] = s.Intermediate;
                Config["intermediate_size"] = 4 * s.Hidden; // the dense MLP's, which the importer must not take
                Config["hidden_act"] = "silu";
                break;
            case ExpertNames.Mixtral:
                Config["num_local_experts"] = s.Experts;
                Config["intermediate_size"] = s.Intermediate;
                Config["hidden_act"] = "silu";
                break;
            default:
                Config["n_routed_experts"] = s.Experts;
                Config["moe_intermediate_size"] = s.Intermediate;
                Config["mlp_hidden_act"] = "relu2";
                break;
        }
        Config["torch_dtype"] = "bfloat16";
        var routers = Enumerable.Range(0, s.Layers).Select(l => $"{Root}.{l}.{Block}.gate").ToList();
        if (s.Format == CheckpointFormat.ModelOpt)
        {
            var exclude = new JsonArray("lm_head", $"{Root}.0.self_attn*");
            routers.ForEach(r => exclude.Add(r));
            HfQuantConfig = new JsonObject
            {
                ["producer"] = new JsonObject { ["name"] = "modelopt", ["version"] = "0.35.0" },
                ["quantization"] = new JsonObject
                {
                    ["quant_algo"] = s.WeightOnly ? "W4A16_NVFP4" : "NVFP4",
                    ["kv_cache_quant_algo"] = null,
                    ["group_size"] = 16,
                    ["exclude_modules"] = exclude,
                },
            };
            return;
        }
        JsonObject Scheme(bool weights) => new()
        {
            ["num_bits"] = 4, ["type"] = "float", ["symmetric"] = true, ["group_size"] = 16, ["strategy"] = "tensor_group",
            ["dynamic"] = weights ? false : "local", ["observer"] = "static_minmax",
        };
        var group = new JsonObject { ["targets"] = new JsonArray("Linear"), ["weights"] = Scheme(true), ["format"] = "nvfp4-pack-quantized" };
        if (!s.WeightOnly)
        {
            group["input_activations"] = Scheme(false);
        }
        Config["quantization_config"] = new JsonObject
        {
            ["config_groups"] = new JsonObject { ["group_0"] = group },
            ["format"] = "nvfp4-pack-quantized",
            ["ignore"] = new JsonArray("lm_head", $"re:.*{Block}\\.gate$"),
            ["quant_method"] = "compressed-tensors",
            ["quantization_status"] = "compressed",
        };
    }

    private void BuildOthers(Random random)
    {
        StoredTensor Bf16(string name, params long[] shape)
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            float[] values = TestTokens.Normal(random, (int)count);
            var bytes = new byte[count * 2];
            for (int i = 0; i < count; i++)
            {
                BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16));
            }
            return new StoredTensor(name, SafetensorsDtype.BF16, shape, bytes);
        }
        Others.Add(Bf16(Spec.Names == ExpertNames.Nemotron ? "backbone.embeddings.weight" : "model.embed_tokens.weight", 16, Spec.Hidden));
        for (int l = 0; l < Spec.Layers; l++)
        {
            // The router: a BF16 '.weight' whose module name is a prefix of the gate projection's (traps T1, T5).
            Others.Add(Bf16($"{Root}.{l}.{Block}.gate.weight", Spec.Experts, Spec.Hidden));
            Others.Add(Bf16($"{Root}.{l}.input_layernorm.weight", Spec.Hidden));
        }
        Others.Add(Bf16("lm_head.weight", 16, Spec.Hidden));
    }

    private static void Save(string path, List<StoredTensor> tensors)
    {
        var writer = new SafetensorsWriter();
        writer.AddMetadata("format", "pt");
        foreach (StoredTensor t in tensors)
        {
            writer.Add(t.Name, t.Dtype, t.Shape, t.Data);
        }
        writer.Save(path);
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>E4M3 block scales: mostly normal values 4..416, plus subnormal (4 %), saturated 448 (3 %) and zero (1 %) bytes.</summary>
    private static byte[] RandomScales(Random random, int count)
    {
        var bytes = new byte[count];
        for (int i = 0; i < count; i++)
        {
            double r = random.NextDouble();
            bytes[i] = r < 0.04 ? (byte)random.Next(1, 8) : r < 0.07 ? (byte)0x7E : r < 0.08 ? (byte)0 : (byte)random.Next(0x48, 0x7E);
        }
        return bytes;
    }
}
