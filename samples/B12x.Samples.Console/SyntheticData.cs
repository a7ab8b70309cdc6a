using System;
using System.Globalization;
using System.IO;
using System.Text;
using Microsoft.ML.B12x;
using TorchSharp;
using static TorchSharp.torch;

namespace B12x.Samples.Console;

/// <summary>
/// A random MoE layer and hidden states for runs without files: dense expert weights N(0, 1)/√fan_in quantised to
/// NVFP4 by <see cref="MoeWeights.Quantize"/> (calibrated on a slice of the hidden states), hidden states N(0, 1),
/// and router logits from a random router matrix, so tokens prefer some experts as in a trained model.
/// </summary>
internal static class SyntheticData
{
    /// <summary>Sizes of the synthesised layer: a small Qwen3-MoE-like layer that runs in seconds on a CPU.</summary>
    public const int Hidden = 512, Intermediate = 256, Experts = 32, TopK = 4;

    /// <summary>Calibration rows used to set the activation scales (ModelOpt calibrates on a few hundred tokens).</summary>
    private const int CalibrationRows = 256;

    /// <summary>Writes a layer file of random NVFP4 weights.</summary>
    public static void WriteLayer(string path, int seed)
    {
        using DisposeScope scope = NewDisposeScope();
        var generator = new Generator((ulong)seed);
        Tensor w1 = randn(new long[] { Experts, 2 * Intermediate, Hidden }, generator: generator).div_(Math.Sqrt(Hidden));
        Tensor w2 = randn(new long[] { Experts, Hidden, Intermediate }, generator: generator).div_(Math.Sqrt(Intermediate));
        Tensor calibration = randn(new long[] { CalibrationRows, Hidden }, generator: generator);
        using MoeWeights weights = MoeWeights.Quantize(w1, w2, calibration, topK: TopK);
        weights.SaveLayerFile(path);
    }

    /// <summary>
    /// Writes <paramref name="tokens"/> rows of hidden states and router logits as CSV: a header
    /// <c>x0,…,x{H-1},logit0,…,logit{E-1}</c>, then one row per token.
    /// </summary>
    public static void WriteHiddenStatesCsv(string path, int tokens, int hidden, int experts, int seed, Action<int>? progress = null)
    {
        using DisposeScope scope = NewDisposeScope();
        var generator = new Generator((ulong)seed + 1);
        Tensor router = randn(new long[] { experts, hidden }, generator: generator).div_(Math.Sqrt(hidden) / 2);
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        var header = new StringBuilder();
        for (int h = 0; h < hidden; h++)
        {
            header.Append(h == 0 ? "" : ",").Append("x").Append(h);
        }
        for (int e = 0; e < experts; e++)
        {
            header.Append(",logit").Append(e);
        }
        writer.WriteLine(header);
        const int chunk = 1024;
        var line = new StringBuilder();
        for (int first = 0; first < tokens; first += chunk)
        {
            using DisposeScope chunkScope = NewDisposeScope();
            int count = Math.Min(chunk, tokens - first);
            Tensor x = randn(new long[] { count, hidden }, generator: generator);
            Tensor logits = x.matmul(router.t());
            float[] xs = x.data<float>().ToArray(), ls = logits.contiguous().data<float>().ToArray();
            for (int t = 0; t < count; t++)
            {
                line.Clear();
                for (int h = 0; h < hidden; h++)
                {
                    line.Append(h == 0 ? "" : ",").Append(xs[t * hidden + h].ToString("R", CultureInfo.InvariantCulture));
                }
                for (int e = 0; e < experts; e++)
                {
                    line.Append(',').Append(ls[t * experts + e].ToString("R", CultureInfo.InvariantCulture));
                }
                writer.WriteLine(line);
            }
            progress?.Invoke(first + count);
        }
    }
}
