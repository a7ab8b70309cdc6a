namespace Microsoft.ML.B12x.Tests.IO.Checkpoints;

/// <summary>One expert projection exactly as a tiny checkpoint stores it (global scales as stored: ModelOpt
/// multipliers or compressed-tensors reciprocals).</summary>
internal sealed class StoredProjection
{
    public required int Rows { get; init; }

    public required int Columns { get; init; }

    /// <summary>Packed E2M1 codes [Rows, Columns/2], element 2j in the low nibble.</summary>
    public required byte[] Codes { get; set; }

    /// <summary>E4M3 block scales [Rows, Columns/16], linear.</summary>
    public required byte[] Scales { get; set; }

    /// <summary>weight_scale_2 (ModelOpt) or weight_global_scale (compressed-tensors), as stored.</summary>
    public required float WeightGlobal { get; set; }

    /// <summary>input_scale or input_global_scale as stored; null: the tensor is not written.</summary>
    public float? InputGlobal { get; set; }

    public StoredProjection Clone() => new()
    {
        Rows = Rows, Columns = Columns, Codes = (byte[])Codes.Clone(), Scales = (byte[])Scales.Clone(),
        WeightGlobal = WeightGlobal, InputGlobal = InputGlobal,
    };
}

/// <summary>The routed experts of one layer of a tiny checkpoint: per expert gate (null when not gated), up, down.</summary>
internal sealed class TinyMoeLayer
{
    public required StoredProjection?[] Gate { get; init; }

    public required StoredProjection[] Up { get; init; }

    public required StoredProjection[] Down { get; init; }

    public bool Gated => Gate[0] is not null;

    public int Experts => Up.Length;
}
