namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>What <see cref="BlockScaleRescaler"/> did to a set of block scales.</summary>
internal struct RescaleStats
{
    /// <summary>Block scales rescaled.</summary>
    public long Blocks;

    /// <summary>Scales whose new value is not exactly the wanted one (they were rounded).</summary>
    public long Rounded;

    /// <summary>Non-zero scales that became E4M3 subnormals (below 2^-6: fewer significant bits).</summary>
    public long Subnormal;

    /// <summary>Non-zero scales that became zero (their blocks now decode to 0).</summary>
    public long Zeroed;

    /// <summary>The largest |new − wanted| / wanted over non-zero scales.</summary>
    public double MaxRelativeChange;

    /// <summary>One phrase for reports.</summary>
    public readonly override string ToString() => System.FormattableString.Invariant(
        $"{Blocks} block scales re-encoded, {Rounded} rounded (max relative change {MaxRelativeChange:P2}), {Subnormal} became E4M3 subnormals, {Zeroed} became zero");
}
