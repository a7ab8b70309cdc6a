using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>Bit-for-bit comparison of bfloat16 outputs; any two NaNs count as equal (their payloads are not part of the contract).</summary>
internal static class BitAssert
{
    public static void Equal(ushort[] expected, ushort[] actual, int hidden, string context)
    {
        Assert.HasCount(expected.Length, actual, context);
        if (FirstDifference(expected, actual, hidden, context) is string difference)
        {
            Assert.Fail(difference);
        }
    }

    /// <summary>Null when the bits are equal, else where they first differ (for threads, which cannot assert).</summary>
    public static string? FirstDifference(ushort[] expected, ushort[] actual, int hidden, string context)
    {
        if (expected.Length != actual.Length)
        {
            return $"{context}: {actual.Length} output elements, expected {expected.Length}.";
        }
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] == actual[i] || (IsNaN(expected[i]) && IsNaN(actual[i])))
            {
                continue;
            }
            return $"{context}: first difference at token {i / hidden}, feature {i % hidden}: expected 0x{expected[i]:X4} " +
                $"({ToSingle(expected[i]):R}), got 0x{actual[i]:X4} ({ToSingle(actual[i]):R}).";
        }
        return null;
    }

    public static bool IsNaN(ushort bits) => (bits & 0x7F80) == 0x7F80 && (bits & 0x007F) != 0;

    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
