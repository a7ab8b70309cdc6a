using Microsoft.ML.B12x;

namespace B12x.Cli.Synthesis;

/// <summary>What <c>b12x synth</c> generates: sizes (notation of the operator), modes and the random seed.</summary>
internal sealed record SynthesisSpec(
    int Hidden, int Intermediate, int Experts, int TopK, int Tokens,
    MoeActivation Activation, MoeQuantMode QuantMode, ScaleLayout ScaleLayout, ulong Seed);
