using System;
using Microsoft.ML.B12x.Tests.Infrastructure;

namespace Microsoft.ML.B12x.Tests.Reference;

/// <summary>
/// The fused MoE operator written from semantics.md, as plainly as possible and sharing no code with the library:
/// scalar loops in the canonical order (16-block sums of NVFP4 formed exactly in float64, then added in float32
/// in ascending block order; W4A16 products rounded to float32 and added one at a time; the combine in ascending k
/// from +0 with one bfloat16 rounding). It also counts how often the quantisers hit the interesting regimes, so
/// tests can prove their data exercises them.
/// </summary>
internal static class ReferenceMoe
{
    /// <summary>How often each regime of the step-1 and step-4 quantisers occurred.</summary>
    public sealed class Regimes
    {
        public int SaturatedScales;
        public int SubnormalScales;
        public int ZeroScales;
        public int Blocks;
    }

    /// <summary>
    /// Computes the output bits [T·H] of a case. <paramref name="intermediateCodes"/> (NVFP4, length T·K·I/2)
    /// receives the packed FC2-input codes of every valid pair at row t·K + k, so other backends can count how many
    /// intermediate codes they chose differently.
    /// </summary>
    public static ushort[] Run(
        MoeCaseData c, Regimes? inputRegimes = null, Regimes? intermediateRegimes = null, byte[]? intermediateCodes = null)
    {
        int w1Rows = c.Gated ? 2 * c.Intermediate : c.Intermediate;
        var output = new ushort[c.Tokens * c.Hidden];
        for (int t = 0; t < c.Tokens; t++)
        {
            var x = new float[c.Hidden];
            bool finite = true;
            for (int h = 0; h < c.Hidden; h++)
            {
                x[h] = BitConverter.UInt32BitsToSingle((uint)c.X[t * c.Hidden + h] << 16);
                finite &= float.IsFinite(x[h]);
            }
            var sum = new float[c.Hidden];
            bool anyLocal = false;
            for (int k = 0; k < c.TopK; k++)
            {
                long id = c.Ids[t * c.TopK + k];
                if (id < c.LocalOffset || id >= c.LocalOffset + c.LocalExperts)
                {
                    continue;
                }
                anyLocal = true;
                if (!finite)
                {
                    continue;
                }
                int e = (int)id, l = e - c.LocalOffset;
                float alpha1, alpha2, gs1 = 0, gs2 = 0;
                if (c.Nvfp4)
                {
                    float w1a = Scalar(c.W1Alpha, e, l, c);
                    gs1 = c.InputGlobalScale is null ? w1a : Scalar(c.InputGlobalScale, e, l, c);
                    alpha1 = c.InputGlobalScale is null ? w1a : w1a * gs1;
                    gs2 = Scalar(c.Fc2InputScale!, e, l, c);
                    alpha2 = Scalar(c.W2Alpha, e, l, c);
                }
                else
                {
                    alpha1 = c.CompressedTensors ? 1f / Scalar(c.W1Alpha, e, l, c) : Scalar(c.W1Alpha, e, l, c);
                    alpha2 = c.CompressedTensors ? 1f / Scalar(c.W2Alpha, e, l, c) : Scalar(c.W2Alpha, e, l, c);
                }

                float[] fc1Input = c.Nvfp4 ? Quantize(x, gs1, inputRegimes) : x;
                float[] fc1 = MatVec(c.W1Codes, c.W1Scales, l, w1Rows, c.Hidden, fc1Input, c.Nvfp4);
                var a = new float[c.Intermediate];
                for (int n = 0; n < c.Intermediate; n++)
                {
                    float value;
                    if (c.Gated)
                    {
                        float g = alpha1 * fc1[c.Intermediate + n];
                        float u = alpha1 * fc1[n];
                        float sigmoid = 1f / (1f + MathF.Exp(-g));
                        value = g * sigmoid * u;
                    }
                    else
                    {
                        float g = alpha1 * fc1[n];
                        float r = float.IsNaN(g) ? g : g > 0 ? g : 0f;
                        value = r * r;
                    }
                    a[n] = ReferenceFormats.BFloat16Round(value);
                }
                float[] fc2Input = c.Nvfp4 ? Quantize(a, gs2, intermediateRegimes) : a;
                if (c.Nvfp4 && intermediateCodes is not null)
                {
                    PackCodes(a, gs2, intermediateCodes.AsSpan((t * c.TopK + k) * (c.Intermediate / 2), c.Intermediate / 2));
                }
                float[] fc2 = MatVec(c.W2Codes, c.W2Scales, l, c.Hidden, c.Intermediate, fc2Input, c.Nvfp4);
                float factor = c.RoutingWeights[t * c.TopK + k] * alpha2;
                for (int h = 0; h < c.Hidden; h++)
                {
                    float contribution = factor * fc2[h];
                    sum[h] = sum[h] + contribution;
                }
            }
            for (int h = 0; h < c.Hidden; h++)
            {
                float value = !anyLocal ? 0f : !finite ? float.NaN : ReferenceFormats.BFloat16Round(sum[h]);
                output[t * c.Hidden + h] = (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16);
            }
        }
        return output;
    }

    /// <summary>[1]: the one value; [E]: by global id; [E_loc]: by local id.</summary>
    private static float Scalar(float[] values, int globalId, int localId, MoeCaseData c) =>
        values.Length == 1 ? values[0] : values.Length == c.NumExperts ? values[globalId] : values[localId];

    private static float[] Quantize(float[] row, float gs, Regimes? regimes)
    {
        if (regimes is not null)
        {
            for (int b = 0; b < row.Length / 16; b++)
            {
                (byte scale, _) = ReferenceQuantizer.QuantizeBlock(row.AsSpan(16 * b, 16), gs);
                regimes.Blocks++;
                regimes.SaturatedScales += scale == 0x7E ? 1 : 0;
                regimes.SubnormalScales += scale is > 0 and < 8 ? 1 : 0;
                regimes.ZeroScales += scale == 0 ? 1 : 0;
            }
        }
        return ReferenceQuantizer.QuantizeToBlockValues(row, gs);
    }

    private static void PackCodes(float[] row, float gs, Span<byte> packed)
    {
        for (int b = 0; b < row.Length / 16; b++)
        {
            (_, int[] codes) = ReferenceQuantizer.QuantizeBlock(row.AsSpan(16 * b, 16), gs);
            for (int j = 0; j < 8; j++)
            {
                packed[8 * b + j] = (byte)(codes[2 * j] | (codes[2 * j + 1] << 4));
            }
        }
    }

    /// <summary>acc[n] = Σ_c input[c]·ŵ[l, n, c] in the canonical order of the mode.</summary>
    private static float[] MatVec(byte[] codes, byte[] linearScales, int expert, int rows, int columns, float[] input, bool blockSums)
    {
        var result = new float[rows];
        for (int n = 0; n < rows; n++)
        {
            long rowBase = ((long)expert * rows + n) * columns;
            float acc = 0f;
            for (int b = 0; b < columns / 16; b++)
            {
                double block = 0;
                for (int i = 0; i < 16; i++)
                {
                    long element = rowBase + 16 * b + i;
                    int code = (codes[element / 2] >> (int)(4 * (element % 2))) & 0xF;
                    float w = ReferenceFormats.E2M1Value(code) * ReferenceFormats.E4M3Value(linearScales[element / 16]);
                    if (blockSums)
                    {
                        block += (double)input[16 * b + i] * w; // exact: products and sums of a block fit in 24 bits
                    }
                    else
                    {
                        float product = input[16 * b + i] * w;
                        acc = acc + product;
                    }
                }
                if (blockSums)
                {
                    acc = acc + (float)block;
                }
            }
            result[n] = acc;
        }
        return result;
    }
}
