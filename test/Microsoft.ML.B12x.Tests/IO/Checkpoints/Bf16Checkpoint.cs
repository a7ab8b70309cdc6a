using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using Microsoft.ML.B12x.IO.Safetensors;
using Microsoft.ML.B12x.Tests.Reference;

namespace Microsoft.ML.B12x.Tests.IO.Checkpoints;

/// <summary>
/// A tiny unquantised MoE checkpoint (Qwen3-MoE names, bf16): expert weights N(0, 1)/√fan_in rounded to bf16, plus
/// embeddings, routers, norms and an lm_head, single-file or in two shards with an index. The tests keep the weights.
/// </summary>
internal sealed class Bf16Checkpoint
{
    public const int Hidden = 64, Intermediate = 32, Experts = 4, TopK = 2, Layers = 2;

    private readonly List<StoredTensor> _tensors = new();

    /// <summary>[layer][expert] gate, up ([I, H]) and down ([H, I]) weights as bf16 values, row-major.</summary>
    public float[][][] Gate { get; } = new float[Layers][][];

    public float[][][] Up { get; } = new float[Layers][][];

    public float[][][] Down { get; } = new float[Layers][][];

    public IReadOnlyList<StoredTensor> Tensors => _tensors;

    public static Bf16Checkpoint Create(int seed)
    {
        var random = new Random(seed);
        var checkpoint = new Bf16Checkpoint();
        checkpoint.Add("model.embed_tokens.weight", TestTokens.Normal(random, 16 * Hidden), 16, Hidden);
        for (int l = 0; l < Layers; l++)
        {
            checkpoint.Add($"model.layers.{l}.input_layernorm.weight", TestTokens.Normal(random, Hidden), Hidden);
            checkpoint.Add($"model.layers.{l}.mlp.gate.weight", TestTokens.Normal(random, Experts * Hidden), Experts, Hidden);
            checkpoint.Gate[l] = new float[Experts][];
            checkpoint.Up[l] = new float[Experts][];
            checkpoint.Down[l] = new float[Experts][];
            for (int e = 0; e < Experts; e++)
            {
                checkpoint.Gate[l][e] = checkpoint.Add($"model.layers.{l}.mlp.experts.{e}.gate_proj.weight", Weights(random, Intermediate, Hidden), Intermediate, Hidden);
                checkpoint.Up[l][e] = checkpoint.Add($"model.layers.{l}.mlp.experts.{e}.up_proj.weight", Weights(random, Intermediate, Hidden), Intermediate, Hidden);
                checkpoint.Down[l][e] = checkpoint.Add($"model.layers.{l}.mlp.experts.{e}.down_proj.weight", Weights(random, Hidden, Intermediate), Hidden, Intermediate);
            }
        }
        checkpoint.Add("model.norm.weight", TestTokens.Normal(random, Hidden), Hidden);
        checkpoint.Add("lm_head.weight", TestTokens.Normal(random, 16 * Hidden), 16, Hidden);
        return checkpoint;
    }

    /// <summary>Writes config.json, a generation_config.json and the weights (two shards when <paramref name="sharded"/>).</summary>
    public void Write(string directory, bool sharded = false)
    {
        Directory.CreateDirectory(directory);
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("Qwen3MoeForCausalLM"),
            ["model_type"] = "qwen3_moe",
            ["hidden_size"] = Hidden,
            ["moe_intermediate_size"] = Intermediate,
            ["num_experts"] = Experts,
            ["num_experts_per_tok"] = TopK,
            ["num_hidden_layers"] = Layers,
            ["hidden_act"] = "silu",
            ["torch_dtype"] = "bfloat16",
        };
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString());
        File.WriteAllText(Path.Combine(directory, "generation_config.json"), "{\"do_sample\": true}");
        if (!sharded)
        {
            Save(Path.Combine(directory, "model.safetensors"), _tensors);
            return;
        }
        string first = "model-00001-of-00002.safetensors", second = "model-00002-of-00002.safetensors";
        bool InFirst(StoredTensor t) => !t.Name.StartsWith("model.layers.1.", StringComparison.Ordinal) && t.Name != "lm_head.weight";
        Save(Path.Combine(directory, first), _tensors.Where(InFirst).ToList());
        Save(Path.Combine(directory, second), _tensors.Where(t => !InFirst(t)).ToList());
        var map = new JsonObject();
        _tensors.ForEach(t => map[t.Name] = InFirst(t) ? first : second);
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = _tensors.Sum(t => (long)t.Data.Length) }, ["weight_map"] = map };
        File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"), index.ToJsonString());
    }

    /// <summary>Writes a calibration file holding <c>x</c> (BF16 [T, H]).</summary>
    public static void WriteCalibration(string path, float[] x, int tokens)
    {
        new SafetensorsWriter().Add("x", SafetensorsDtype.BF16, [tokens, Hidden], ToBFloat16Bytes(x)).Save(path);
    }

    /// <summary>The layer's output for the tokens in float64 from the bf16 weights and unquantised x.</summary>
    public double[] Reference(int layer, TestTokens tokens)
    {
        var output = new double[tokens.Tokens * Hidden];
        for (int t = 0; t < tokens.Tokens; t++)
        {
            for (int k = 0; k < tokens.TopK; k++)
            {
                int e = tokens.Ids[t * tokens.TopK + k];
                var a = new double[Intermediate];
                for (int n = 0; n < Intermediate; n++)
                {
                    double g = 0, u = 0;
                    for (int h = 0; h < Hidden; h++)
                    {
                        g += tokens.X[t * Hidden + h] * (double)Gate[layer][e][n * Hidden + h];
                        u += tokens.X[t * Hidden + h] * (double)Up[layer][e][n * Hidden + h];
                    }
                    a[n] = g / (1 + Math.Exp(-g)) * u;
                }
                for (int h = 0; h < Hidden; h++)
                {
                    double y = 0;
                    for (int n = 0; n < Intermediate; n++)
                    {
                        y += a[n] * Down[layer][e][h * Intermediate + n];
                    }
                    output[t * Hidden + h] += tokens.Weights[t * tokens.TopK + k] * y;
                }
            }
        }
        return output;
    }

    private float[] Add(string name, float[] values, params long[] shape)
    {
        _tensors.Add(new StoredTensor(name, SafetensorsDtype.BF16, shape, ToBFloat16Bytes(values)));
        return values;
    }

    private static float[] Weights(Random random, int rows, int fanIn) =>
        TestTokens.Normal(random, rows * fanIn).Select(v => ReferenceFormats.BFloat16Round((float)(v / Math.Sqrt(fanIn)))).ToArray();

    private static byte[] ToBFloat16Bytes(float[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16));
        }
        return bytes;
    }

    private static void Save(string path, List<StoredTensor> tensors)
    {
        var writer = new SafetensorsWriter();
        writer.AddMetadata("format", "pt");
        tensors.ForEach(t => writer.Add(t.Name, t.Dtype, t.Shape, t.Data));
        writer.Save(path);
    }
}
