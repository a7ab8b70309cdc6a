using System;
using System.Linq;
using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.Tests.Reference;

namespace Microsoft.ML.B12x.Tests.IO.Checkpoints;

/// <summary>
/// The function a checkpoint layer defines, evaluated in float64 straight from the stored tensors and sharing no code
/// with the importer: weights dequantised as code · E4M3(scale) · S_w with S_w the stored global scale in ModelOpt
/// form (compressed-tensors: 1/stored); activations (NVFP4) quantised with the checkpoint's input scales exactly as
/// the contract's steps 1 and 4 do (the test-side <see cref="ReferenceQuantizer"/>), x with the layer's largest
/// gate/up input scale and the intermediate with each expert's own down input scale; the intermediate rounded to
/// bf16 as step 3 does. Everything else (products, sums, silu, the combine) in float64.
/// </summary>
internal static class CheckpointReference
{
    /// <summary>A global scale in ModelOpt form, in float64.</summary>
    public static double Multiplier(CheckpointFormat format, float stored) => format == CheckpointFormat.CompressedTensors ? 1.0 / stored : stored;

    /// <summary>An activation scale as the contract's quantiser takes it: a float (fp32 of the reciprocal for compressed-tensors).</summary>
    public static float ActivationScale(CheckpointFormat format, float stored) =>
        format == CheckpointFormat.CompressedTensors ? (float)(1.0 / stored) : stored;

    /// <summary>w[n, k] = E2M1(code) · E4M3(scale) · S_w, [Rows · Columns] in float64.</summary>
    public static double[] Dequantize(StoredProjection p, CheckpointFormat format)
    {
        double global = Multiplier(format, p.WeightGlobal);
        var w = new double[p.Rows * p.Columns];
        for (int i = 0; i < w.Length; i++)
        {
            int code = (p.Codes[i / 2] >> (4 * (i % 2))) & 0xF;
            w[i] = ReferenceFormats.E2M1Value(code) * (double)ReferenceFormats.E4M3Value(p.Scales[i / 16]) * global;
        }
        return w;
    }

    /// <summary>
    /// The layer's output [T·H] for the tokens; <paramref name="weightOnly"/> leaves activations unquantised.
    /// </summary>
    public static double[] Run(TinyMoeLayer layer, CheckpointFormat format, TestTokens tokens, bool weightOnly)
    {
        int experts = layer.Experts, hidden = tokens.Hidden, intermediate = layer.Up[0].Rows;
        double[][] gate = layer.Gate.Select(p => p is null ? [] : Dequantize(p, format)).ToArray();
        double[][] up = layer.Up.Select(p => Dequantize(p, format)).ToArray();
        double[][] down = layer.Down.Select(p => Dequantize(p, format)).ToArray();
        float gs1 = weightOnly ? 1 : Enumerable.Range(0, experts).Max(e => Math.Max(
            ActivationScale(format, layer.Up[e].InputGlobal!.Value),
            layer.Gate[e] is StoredProjection g ? ActivationScale(format, g.InputGlobal!.Value) : 0f));
        var output = new double[tokens.Tokens * hidden];
        for (int t = 0; t < tokens.Tokens; t++)
        {
            float[] x = tokens.X.AsSpan(t * hidden, hidden).ToArray();
            float[] fc1Input = weightOnly ? x : ReferenceQuantizer.QuantizeToBlockValues(x, gs1);
            for (int k = 0; k < tokens.TopK; k++)
            {
                int e = tokens.Ids[t * tokens.TopK + k];
                var a = new float[intermediate];
                for (int n = 0; n < intermediate; n++)
                {
                    double u = gs1 * Dot(fc1Input, up[e], n * hidden);
                    double value = layer.Gated
                        ? Silu(gs1 * Dot(fc1Input, gate[e], n * hidden)) * u
                        : Math.Max(u, 0) * Math.Max(u, 0);
                    a[n] = ReferenceFormats.BFloat16Round((float)value);
                }
                float gs2 = weightOnly ? 1 : ActivationScale(format, layer.Down[e].InputGlobal!.Value);
                float[] fc2Input = weightOnly ? a : ReferenceQuantizer.QuantizeToBlockValues(a, gs2);
                for (int h = 0; h < hidden; h++)
                {
                    output[t * hidden + h] += tokens.Weights[t * tokens.TopK + k] * gs2 * Dot(fc2Input, down[e], h * intermediate);
                }
            }
        }
        return output;
    }

    /// <summary>The largest |activation| of expert <paramref name="expert"/> over the tokens <paramref name="x"/> (unquantised, float64).</summary>
    public static double ActivationAmax(TinyMoeLayer layer, int expert, CheckpointFormat format, float[] x, int hidden)
    {
        double[] up = Dequantize(layer.Up[expert], format);
        double[]? gate = layer.Gate[expert] is StoredProjection g ? Dequantize(g, format) : null;
        int intermediate = layer.Up[expert].Rows;
        double amax = 0;
        for (int t = 0; t < x.Length / hidden; t++)
        {
            float[] row = x.AsSpan(t * hidden, hidden).ToArray();
            for (int n = 0; n < intermediate; n++)
            {
                double u = Dot(row, up, n * hidden);
                double a = gate is null ? Math.Max(u, 0) * Math.Max(u, 0) : Silu(Dot(row, gate, n * hidden)) * u;
                amax = Math.Max(amax, Math.Abs(a));
            }
        }
        return amax;
    }

    private static double Silu(double z) => z / (1 + Math.Exp(-z));

    private static double Dot(float[] input, double[] matrix, int rowStart)
    {
        double sum = 0;
        for (int i = 0; i < input.Length; i++)
        {
            sum += input[i] * matrix[rowStart + i];
        }
        return sum;
    }
}
