namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>The global scales of one expert projection as read from a checkpoint, in ModelOpt form (multipliers).</summary>
/// <param name="Weight">S_w: the weight's global scale; 0 for an all-zero weight (trap T9).</param>
/// <param name="WeightTensor">The tensor S_w came from.</param>
/// <param name="Input">S_x: the input's global scale, or null when it is missing or unusable (trap T8) or not read.</param>
/// <param name="InputTensor">The tensor S_x comes from (or would).</param>
/// <param name="InputProblem">Why <paramref name="Input"/> is null: "missing", or the bad stored value; null otherwise.</param>
/// <param name="NegativeBlockScales">How many block-scale bytes have the sign bit set and a non-zero magnitude.</param>
internal sealed record ProjectionScales(
    float Weight, string WeightTensor, float? Input, string InputTensor, string? InputProblem, int NegativeBlockScales);
