using System;

namespace Microsoft.ML.B12x.Tests.Reference;

/// <summary>The contract's step-1 block quantiser written from semantics.md, on the reference formats.</summary>
internal static class ReferenceQuantizer
{
    /// <summary>Quantises 16 values with global scale gs; returns the E4M3 scale byte and the 16 codes.</summary>
    public static (byte Scale, int[] Codes) QuantizeBlock(ReadOnlySpan<float> block, float gs)
    {
        float amax = 0f;
        foreach (float v in block)
        {
            float a = Math.Abs(v);
            amax = a > amax ? a : amax;
        }
        float d = 6f * gs;
        float s = amax / d;
        if (s > 448f)
        {
            s = 448f;
        }
        byte sb = ReferenceFormats.E4M3Round(s);
        float q = ReferenceFormats.E4M3Value(sb);
        var codes = new int[block.Length];
        if (q != 0f)
        {
            float p = q * gs;
            float m = 1f / p;
            for (int i = 0; i < block.Length; i++)
            {
                float scaled = block[i] * m;
                codes[i] = ReferenceFormats.E2M1Round(scaled);
            }
        }
        return (sb, codes);
    }

    /// <summary>
    /// Quantises a row block by block and returns x̂ = value(code)·q per element (exact), the operator's FC input.
    /// </summary>
    public static float[] QuantizeToBlockValues(ReadOnlySpan<float> row, float gs)
    {
        var result = new float[row.Length];
        for (int b = 0; b < row.Length / 16; b++)
        {
            (byte sb, int[] codes) = QuantizeBlock(row.Slice(16 * b, 16), gs);
            double q = ReferenceFormats.E4M3Value(sb);
            for (int i = 0; i < 16; i++)
            {
                result[16 * b + i] = (float)(ReferenceFormats.E2M1Value(codes[i]) * q);
            }
        }
        return result;
    }
}
