using System;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>How the per-expert scalar arguments are shaped.</summary>
public enum ScalarShape
{
    /// <summary>[1], one value for all experts.</summary>
    One,

    /// <summary>[E], indexed by global id.</summary>
    Global,

    /// <summary>[E_loc], indexed by local id.</summary>
    Local,
}

/// <summary>The shape and modes of a generated case.</summary>
public sealed record MoeCaseSpec(
    int Tokens, int Hidden, int Intermediate, int Experts, int TopK,
    MoeActivation Activation = MoeActivation.Silu,
    MoeQuantMode QuantMode = MoeQuantMode.Nvfp4,
    MoeSourceFormat SourceFormat = MoeSourceFormat.ModelOpt,
    ScaleLayout Layout = ScaleLayout.Swizzled128x4,
    bool WithInputGlobalScale = true,
    ScalarShape Scalars = ScalarShape.Global,
    bool Ids64 = false,
    int? LocalExperts = null,
    int LocalOffset = 0,
    double InvalidIdRate = 0.1,
    int Seed = 1)
{
    public override string ToString() =>
        $"T{Tokens} H{Hidden} I{Intermediate} E{Experts} K{TopK} {Activation} {QuantMode} {SourceFormat} {Layout} " +
        $"igs:{WithInputGlobalScale} {Scalars} ids{(Ids64 ? 64 : 32)} L{LocalExperts ?? Experts}@{LocalOffset} seed{Seed}";
}

/// <summary>
/// Random but deliberate test data: byte-level weights whose block scales include E4M3 subnormals, 448, zero and
/// negative values; per-expert, non-unit scalars with weight global scales near amax/2688; activations whose 16-blocks
/// span five decades (so the step-1 and step-4 quantisers hit both saturation at 448 and subnormal scales); routing
/// with invalid ids mixed in. Everything follows from the spec's seed.
/// </summary>
internal static class MoeCaseGenerator
{
    public static MoeCaseData Create(MoeCaseSpec spec)
    {
        var random = new Random(spec.Seed);
        int local = spec.LocalExperts ?? spec.Experts;
        bool gated = spec.Activation == MoeActivation.Silu;
        int w1Rows = gated ? 2 * spec.Intermediate : spec.Intermediate;
        bool nvfp4 = spec.QuantMode == MoeQuantMode.Nvfp4;
        int scalarCount = spec.Scalars switch { ScalarShape.One => 1, ScalarShape.Global => spec.Experts, _ => local };

        return new MoeCaseData
        {
            Tokens = spec.Tokens, Hidden = spec.Hidden, Intermediate = spec.Intermediate, NumExperts = spec.Experts,
            LocalExperts = local, LocalOffset = spec.LocalOffset, TopK = spec.TopK,
            Activation = spec.Activation, QuantMode = spec.QuantMode, SourceFormat = spec.SourceFormat, Layout = spec.Layout,
            X = Activations(random, spec.Tokens * spec.Hidden),
            Ids = Routing(random, spec),
            Ids64 = spec.Ids64,
            RoutingWeights = Uniform(random, spec.Tokens * spec.TopK, 0.05, 1.0),
            W1Codes = Codes(random, local * w1Rows * spec.Hidden / 2),
            W1Scales = ScaleBytes(random, local * w1Rows * spec.Hidden / 16),
            W2Codes = Codes(random, local * spec.Hidden * spec.Intermediate / 2),
            W2Scales = ScaleBytes(random, local * spec.Hidden * spec.Intermediate / 16),
            // ModelOpt-style weight global scales (amax/2688 for amax 0.5..5); compressed-tensors stores 1/S.
            W1Alpha = spec.SourceFormat == MoeSourceFormat.CompressedTensors
                ? Reciprocals(LogUniform(random, scalarCount, 2e-4, 2e-3))
                : LogUniform(random, scalarCount, 2e-4, 2e-3),
            W2Alpha = spec.SourceFormat == MoeSourceFormat.CompressedTensors
                ? Reciprocals(LogUniform(random, scalarCount, 1e-4, 1e-2))
                : LogUniform(random, scalarCount, 1e-4, 1e-2),
            InputGlobalScale = nvfp4 && spec.WithInputGlobalScale ? LogUniform(random, scalarCount, 1e-3, 1e-1) : null,
            Fc2InputScale = nvfp4 ? LogUniform(random, scalarCount, 1e-4, 1.0) : null,
        };
    }

    private static byte[] Codes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>E4M3 block scales: mostly normal values 0.125..8, and subnormals, 448, larger values, zero and negatives (never NaN).</summary>
    private static byte[] ScaleBytes(Random random, int count)
    {
        var bytes = new byte[count];
        for (int i = 0; i < count; i++)
        {
            double u = random.NextDouble();
            bytes[i] = u switch
            {
                < 0.70 => (byte)random.Next(0x20, 0x51),
                < 0.80 => (byte)random.Next(0x01, 0x08),
                < 0.85 => 0x7E,
                < 0.90 => (byte)random.Next(0x51, 0x7E),
                < 0.95 => 0x00,
                _ => (byte)random.Next(0xA0, 0xD1),
            };
        }
        return bytes;
    }

    /// <summary>bfloat16 activations: Gaussian values, each 16-block scaled by 10^U(-4, 1), some blocks all zero.</summary>
    private static ushort[] Activations(Random random, int count)
    {
        var bits = new ushort[count];
        double magnitude = 1;
        for (int i = 0; i < count; i++)
        {
            if (i % 16 == 0)
            {
                magnitude = random.NextDouble() < 0.05 ? 0 : Math.Pow(10, random.NextDouble() * 5 - 4);
            }
            double gaussian = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            float value = (float)(gaussian * magnitude);
            bits[i] = (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16); // truncation is fine: any bf16 will do
        }
        return bits;
    }

    /// <summary>Ids without repeats within a token (when K ≤ E), some replaced by invalid ones (-1 or E).</summary>
    private static long[] Routing(Random random, MoeCaseSpec spec)
    {
        var ids = new long[spec.Tokens * spec.TopK];
        for (int t = 0; t < spec.Tokens; t++)
        {
            for (int k = 0; k < spec.TopK; k++)
            {
                long id;
                bool repeated;
                do
                {
                    id = random.Next(spec.Experts);
                    repeated = false;
                    for (int j = 0; j < k && spec.TopK <= spec.Experts; j++)
                    {
                        repeated |= ids[t * spec.TopK + j] == id;
                    }
                }
                while (repeated);
                if (random.NextDouble() < spec.InvalidIdRate)
                {
                    id = random.Next(2) == 0 ? -1 : spec.Experts;
                }
                ids[t * spec.TopK + k] = id;
            }
        }
        return ids;
    }

    private static float[] Uniform(Random random, int count, double low, double high)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (float)(low + (high - low) * random.NextDouble());
        }
        return values;
    }

    private static float[] LogUniform(Random random, int count, double low, double high)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (float)Math.Exp(Math.Log(low) + (Math.Log(high) - Math.Log(low)) * random.NextDouble());
        }
        return values;
    }

    private static float[] Reciprocals(float[] values) => Array.ConvertAll(values, v => 1f / v);
}
