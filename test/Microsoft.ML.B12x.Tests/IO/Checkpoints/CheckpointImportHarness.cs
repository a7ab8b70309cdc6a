using System;
using Microsoft.ML.B12x.IO.Checkpoints;
using Microsoft.ML.B12x.Tests.Infrastructure;

namespace Microsoft.ML.B12x.Tests.IO.Checkpoints;

/// <summary>Writes a tiny checkpoint, imports one layer and compares the operator's output with the reference.</summary>
internal static class CheckpointImportHarness
{
    /// <summary>
    /// Bound on ‖operator − reference‖/‖reference‖, the reference rounded to bf16 like the operator's output. Both
    /// use the same quantised operands (the contract's quantisers, the same bf16 intermediate), so what remains is
    /// float32 versus float64 accumulation (relative differences near 1e-7), which moves an output element only
    /// where it sits on a bf16 rounding boundary (one bf16 ulp, 2^-8 relative, for a small fraction of elements:
    /// about 1e-4 in rel L2), and, rarely, an intermediate bf16 value or FP4 code flipped by the same effect. A
    /// wrong scale, a swapped gate/up or an unswizzled scale gives errors of 10 % and more.
    /// </summary>
    public const double Tolerance = 1e-3;

    public const int Tokens = 8;

    /// <summary>Imports <paramref name="layer"/> and returns the rel L2 error against <paramref name="expected"/> (default: the stored layer).</summary>
    public static double ImportAndCompare(
        TinyCheckpoint checkpoint, int layer, CheckpointImportOptions? options = null, TinyMoeLayer? expected = null,
        Action<ImportedLayer>? inspect = null)
    {
        using var directory = new TemporaryDirectory();
        checkpoint.Write(directory.Path);
        using ImportedLayer imported = CheckpointImporter.ImportLayer(directory.Path, layer, options);
        inspect?.Invoke(imported);
        return Compare(checkpoint, imported, expected ?? checkpoint.Layers[layer]);
    }

    /// <summary>The rel L2 error of the imported layer's output against the float64 definition of <paramref name="expected"/>.</summary>
    public static double Compare(TinyCheckpoint checkpoint, ImportedLayer imported, TinyMoeLayer expected)
    {
        TinyCheckpointSpec spec = checkpoint.Spec;
        TestTokens tokens = TestTokens.Create(Tokens, spec.Hidden, spec.Experts, spec.TopK, seed: spec.Seed + 1000);
        float[] actual = tokens.RunOperator(imported.Layer);
        double[] reference = CheckpointReference.Run(expected, spec.Format, tokens, spec.WeightOnly);
        return TestTokens.RelativeL2(TestTokens.RoundToBFloat16(reference), actual);
    }
}
