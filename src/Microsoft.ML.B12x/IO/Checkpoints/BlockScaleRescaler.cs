using System;
using Microsoft.ML.B12x.Formats;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>
/// Re-expresses E4M3 block scales relative to another global scale, in place:
/// b' = E4M3(fp32(fp32(decode(b) · multiplier) / divisor)), round to nearest even, saturating at 448 — the
/// re-expression ModelOpt applies when it changes a packed weight's <c>weight_scale_2</c> (checkpoint-formats.md
/// trap T6). Codes are untouched, so each block's values change by the rounding of its scale only.
/// </summary>
internal static class BlockScaleRescaler
{
    /// <summary>E4M3's smallest normal value, 2^-6 (exponent field 1); below it scales have fewer significant bits.</summary>
    private const float SmallestNormal = 1f / 64f;

    /// <summary>Rescales <paramref name="scales"/> and accumulates what the extra rounding did into <paramref name="stats"/>.</summary>
    public static void Rescale(Span<byte> scales, float multiplier, float divisor, ref RescaleStats stats)
    {
        for (int i = 0; i < scales.Length; i++)
        {
            float before = E4M3.Decode(scales[i]);
            float wanted = before * multiplier / divisor;
            byte encoded = E4M3.Encode(wanted);
            float after = E4M3.Decode(encoded);
            scales[i] = encoded;
            stats.Blocks++;
            if (before == 0)
            {
                continue;
            }
            double exact = (double)before * multiplier / divisor;
            if (after != exact)
            {
                stats.Rounded++;
                stats.MaxRelativeChange = Math.Max(stats.MaxRelativeChange, Math.Abs(after - exact) / Math.Abs(exact));
            }
            if (after == 0)
            {
                stats.Zeroed++;
            }
            else if (MathF.Abs(after) < SmallestNormal)
            {
                stats.Subnormal++;
            }
        }
    }
}
