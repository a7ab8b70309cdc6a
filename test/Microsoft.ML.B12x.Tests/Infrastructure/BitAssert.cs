using System;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>Bit-for-bit comparison of bfloat16 outputs; any two NaNs count as equal (their payloads are not part of the contract).</summary>
internal static class BitAssert
{
    public static void Equal(ushort[] expected, ushort[] actual, int hidden, string context)
    {
        Assert.HasCount(expected.Length, actual, context);
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] == actual[i] || (IsNaN(expected[i]) && IsNaN(actual[i])))
            {
                continue;
            }
            Assert.Fail(
                $"{context}: first difference at token {i / hidden}, feature {i % hidden}: expected 0x{expected[i]:X4} " +
                $"({ToSingle(expected[i]):R}), got 0x{actual[i]:X4} ({ToSingle(actual[i]):R}).");
        }
    }

    public static bool IsNaN(ushort bits) => (bits & 0x7F80) == 0x7F80 && (bits & 0x007F) != 0;

    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
