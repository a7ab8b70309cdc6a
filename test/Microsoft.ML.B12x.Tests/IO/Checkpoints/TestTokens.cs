using System;
using System.Linq;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.IO.Checkpoints;

/// <summary>Tokens routed through a layer: x (bf16 values), K distinct experts per token and softmax weights.</summary>
internal sealed class TestTokens
{
    public required int Tokens { get; init; }

    public required int Hidden { get; init; }

    public required int TopK { get; init; }

    /// <summary>[Tokens, Hidden], every value a bfloat16.</summary>
    public required float[] X { get; init; }

    public required int[] Ids { get; init; }

    public required float[] Weights { get; init; }

    public static TestTokens Create(int tokens, int hidden, int experts, int topK, int seed)
    {
        var random = new Random(seed);
        var ids = new int[tokens * topK];
        var weights = new float[tokens * topK];
        for (int t = 0; t < tokens; t++)
        {
            int[] chosen = Enumerable.Range(0, experts).OrderBy(_ => random.Next()).Take(topK).ToArray();
            double[] logits = chosen.Select(_ => random.NextDouble() * 2).ToArray();
            double sum = logits.Sum(Math.Exp);
            for (int k = 0; k < topK; k++)
            {
                ids[t * topK + k] = chosen[k];
                weights[t * topK + k] = (float)(Math.Exp(logits[k]) / sum);
            }
        }
        return new TestTokens { Tokens = tokens, Hidden = hidden, TopK = topK, X = Normal(random, tokens * hidden), Ids = ids, Weights = weights };
    }

    /// <summary>N(0, 1) values rounded to bfloat16 (Box–Muller).</summary>
    public static float[] Normal(Random random, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u = 1 - random.NextDouble(), v = random.NextDouble();
            values[i] = ReferenceFormats.BFloat16Round((float)(Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v)));
        }
        return values;
    }

    /// <summary>Runs <see cref="B12xOps.FusedMoe"/> on the CPU with the layer as it is; returns the bf16 output as floats.</summary>
    public float[] RunOperator(MoeLayerData layer)
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor x = tensor(X, new long[] { Tokens, Hidden }).to(ScalarType.BFloat16);
        Tensor ids = tensor(Ids, new long[] { Tokens, TopK });
        Tensor weights = tensor(Weights, new long[] { Tokens, TopK });
        Tensor output = B12xOps.FusedMoe(
            x, layer.W1Weight, layer.W1WeightSf, layer.W2Weight, layer.W2WeightSf, ids, weights, layer.Config.NumExperts, TopK,
            layer.W1Alpha, layer.W2Alpha, layer.CreateOptions(device: ComputeDevice.Cpu));
        return TensorPointers.HostSpan<float>(output.to(ScalarType.Float32).contiguous()).ToArray();
    }

    /// <summary>‖actual − expected‖ / ‖expected‖ over all elements.</summary>
    public static double RelativeL2(double[] expected, float[] actual)
    {
        double difference = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            difference += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
        }
        return Math.Sqrt(difference / norm);
    }

    /// <summary>The values rounded to bfloat16, as the operator's output is.</summary>
    public static double[] RoundToBFloat16(double[] values) => values.Select(v => (double)ReferenceFormats.BFloat16Round((float)v)).ToArray();
}
