using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>
/// The contract's rule for CUDA against the CPU backend or any exact reference (semantics.md, "How results are
/// compared"): overall relative L2 error ≤ 1 %, and at most max(1, 2 % of rows) rows whose own relative L2 error
/// exceeds 2 %. NaN rows must be the same rows; no other NaN may appear.
/// </summary>
internal static class CudaTolerance
{
    public const double OverallRelativeL2 = 0.01;
    public const double RowRelativeL2 = 0.02;
    public const double BadRowFraction = 0.02;

    /// <summary>The measured errors of one comparison.</summary>
    public readonly record struct Result(double RelativeL2, int BadRows, int Rows, int DifferingElements)
    {
        public override string ToString() =>
            $"relative L2 {RelativeL2:E2}, rows over 2 %: {BadRows}/{Rows}, differing bf16 elements: {DifferingElements}";
    }

    public static Result Measure(ushort[] expected, ushort[] actual, int hidden, string context)
    {
        Assert.HasCount(expected.Length, actual, context);
        int rows = hidden == 0 ? 0 : expected.Length / hidden;
        double errorSquares = 0, referenceSquares = 0;
        int badRows = 0, differing = 0;
        for (int r = 0; r < rows; r++)
        {
            bool expectedNaN = BitAssert.IsNaN(expected[r * hidden]);
            double rowError = 0, rowReference = 0;
            for (int h = 0; h < hidden; h++)
            {
                int i = r * hidden + h;
                bool e = BitAssert.IsNaN(expected[i]), a = BitAssert.IsNaN(actual[i]);
                if (e != a || e != expectedNaN)
                {
                    Assert.Fail($"{context}: NaN mismatch at token {r}, feature {h}: expected 0x{expected[i]:X4}, got 0x{actual[i]:X4}.");
                }
                if (e)
                {
                    continue;
                }
                double x = BitAssert.ToSingle(expected[i]), y = BitAssert.ToSingle(actual[i]);
                differing += expected[i] == actual[i] ? 0 : 1;
                rowError += (x - y) * (x - y);
                rowReference += x * x;
            }
            errorSquares += rowError;
            referenceSquares += rowReference;
            double rowRelative = rowReference > 0 ? Math.Sqrt(rowError / rowReference) : (rowError > 0 ? double.PositiveInfinity : 0);
            badRows += rowRelative > RowRelativeL2 ? 1 : 0;
        }
        double relative = referenceSquares > 0 ? Math.Sqrt(errorSquares / referenceSquares) : (errorSquares > 0 ? double.PositiveInfinity : 0);
        return new Result(relative, badRows, rows, differing);
    }

    /// <summary>Asserts the rule and returns the measurement (tests print it).</summary>
    public static Result AssertWithin(ushort[] expected, ushort[] actual, int hidden, string context)
    {
        Result r = Measure(expected, actual, hidden, context);
        Assert.IsLessThanOrEqualTo(OverallRelativeL2, r.RelativeL2, $"{context}: {r}");
        Assert.IsLessThanOrEqualTo(Math.Max(1, (int)(BadRowFraction * r.Rows)), r.BadRows, $"{context}: {r}");
        return r;
    }
}
