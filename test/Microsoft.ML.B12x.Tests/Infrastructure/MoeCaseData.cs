using System;
using System.Linq;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>
/// One fused-MoE call as plain arrays, shared by the library run (<see cref="MoeCaseRunner"/>) and the oracle
/// (<see cref="Reference.ReferenceMoe"/>). Weights are held for the local experts only, scales in the linear layout
/// (the runner swizzles them when <see cref="Layout"/> asks for it).
/// </summary>
internal sealed class MoeCaseData
{
    public int Tokens { get; init; }
    public int Hidden { get; init; }
    public int Intermediate { get; init; }
    public int NumExperts { get; init; }
    public int LocalExperts { get; init; }
    public int LocalOffset { get; init; }
    public int TopK { get; init; }
    public MoeActivation Activation { get; init; }
    public MoeQuantMode QuantMode { get; init; }
    public MoeSourceFormat SourceFormat { get; init; }
    public ScaleLayout Layout { get; init; }

    /// <summary>bfloat16 bits [T, H].</summary>
    public ushort[] X { get; init; } = [];

    /// <summary>Global expert ids [T, K].</summary>
    public long[] Ids { get; init; } = [];

    /// <summary>Pass the ids as int64 (else int32).</summary>
    public bool Ids64 { get; init; }

    /// <summary>[T, K].</summary>
    public float[] RoutingWeights { get; init; } = [];

    /// <summary>[E_loc, W1 rows, H/2].</summary>
    public byte[] W1Codes { get; init; } = [];

    /// <summary>Linear [E_loc, W1 rows, H/16].</summary>
    public byte[] W1Scales { get; init; } = [];

    /// <summary>[E_loc, H, I/2].</summary>
    public byte[] W2Codes { get; init; } = [];

    /// <summary>Linear [E_loc, H, I/16].</summary>
    public byte[] W2Scales { get; init; } = [];

    /// <summary>[1], [E] or [E_loc].</summary>
    public float[] W1Alpha { get; init; } = [];

    public float[] W2Alpha { get; init; } = [];

    public float[]? Fc2InputScale { get; init; }

    public float[]? InputGlobalScale { get; init; }

    public bool Gated => Activation == MoeActivation.Silu;

    public bool Nvfp4 => QuantMode == MoeQuantMode.Nvfp4;

    public bool CompressedTensors => SourceFormat == MoeSourceFormat.CompressedTensors;

    public int W1Rows => Gated ? 2 * Intermediate : Intermediate;

    /// <summary>A copy holding tokens [first, first + count) only.</summary>
    public MoeCaseData Slice(int first, int count) => With(
        tokens: count,
        x: X.Skip(first * Hidden).Take(count * Hidden).ToArray(),
        ids: Ids.Skip(first * TopK).Take(count * TopK).ToArray(),
        routing: RoutingWeights.Skip(first * TopK).Take(count * TopK).ToArray());

    /// <summary>
    /// The call an expert-parallel rank makes: weights of experts [offset, offset + count) of this (full) case, the
    /// per-expert scalars kept as [E] (global ids) or cut to [E_loc] (<paramref name="localScalars"/>).
    /// </summary>
    public MoeCaseData ForRank(int offset, int count, bool localScalars)
    {
        if (LocalExperts != NumExperts)
        {
            throw new InvalidOperationException("ForRank starts from a case that holds every expert.");
        }
        float[] Cut(float[] values) => localScalars && values.Length == NumExperts ? values.Skip(offset).Take(count).ToArray() : values;
        int w1Codes = W1Rows * Hidden / 2, w1Scales = W1Rows * Hidden / 16, w2Codes = Hidden * Intermediate / 2, w2Scales = Hidden * Intermediate / 16;
        return new MoeCaseData
        {
            Tokens = Tokens, Hidden = Hidden, Intermediate = Intermediate, NumExperts = NumExperts, TopK = TopK,
            LocalExperts = count, LocalOffset = offset,
            Activation = Activation, QuantMode = QuantMode, SourceFormat = SourceFormat, Layout = Layout,
            X = X, Ids = Ids, Ids64 = Ids64, RoutingWeights = RoutingWeights,
            W1Codes = W1Codes.Skip(offset * w1Codes).Take(count * w1Codes).ToArray(),
            W1Scales = W1Scales.Skip(offset * w1Scales).Take(count * w1Scales).ToArray(),
            W2Codes = W2Codes.Skip(offset * w2Codes).Take(count * w2Codes).ToArray(),
            W2Scales = W2Scales.Skip(offset * w2Scales).Take(count * w2Scales).ToArray(),
            W1Alpha = Cut(W1Alpha), W2Alpha = Cut(W2Alpha),
            Fc2InputScale = Fc2InputScale is null ? null : Cut(Fc2InputScale),
            InputGlobalScale = InputGlobalScale is null ? null : Cut(InputGlobalScale),
        };
    }

    /// <summary>A copy with some fields replaced.</summary>
    public MoeCaseData With(
        int? tokens = null, ushort[]? x = null, long[]? ids = null, float[]? routing = null, bool? ids64 = null,
        ScaleLayout? layout = null) => new()
    {
        Tokens = tokens ?? Tokens, Hidden = Hidden, Intermediate = Intermediate, NumExperts = NumExperts,
        LocalExperts = LocalExperts, LocalOffset = LocalOffset, TopK = TopK,
        Activation = Activation, QuantMode = QuantMode, SourceFormat = SourceFormat, Layout = layout ?? Layout,
        X = x ?? X, Ids = ids ?? Ids, Ids64 = ids64 ?? Ids64, RoutingWeights = routing ?? RoutingWeights,
        W1Codes = W1Codes, W1Scales = W1Scales, W2Codes = W2Codes, W2Scales = W2Scales,
        W1Alpha = W1Alpha, W2Alpha = W2Alpha, Fc2InputScale = Fc2InputScale, InputGlobalScale = InputGlobalScale,
    };

    /// <summary>A short description for assertion messages.</summary>
    public override string ToString() =>
        $"T={Tokens} H={Hidden} I={Intermediate} E={NumExperts} L={LocalExperts}@{LocalOffset} K={TopK} {Activation} {QuantMode} " +
        $"{SourceFormat} {Layout} igs={(InputGlobalScale is null ? "none" : $"[{InputGlobalScale.Length}]")} " +
        $"alpha=[{W1Alpha.Length}] ids{(Ids64 ? 64 : 32)}";
}
