using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Microsoft.ML.B12x.Formats;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// E4M3 block scales of 16 rows as float vectors: the scale bytes of 4 consecutive blocks of each row are gathered as
/// one 32-bit word per row (they are adjacent in both layouts), and each byte is decoded with integer arithmetic.
/// Gives the same bits as <see cref="E4M3.Decode"/>, NaN bytes included.
/// </summary>
internal static unsafe class BlockScaleVectors
{
    /// <summary>Exponent rebias from E4M3 (bias 7) to float32 (bias 127), placed in the float exponent field.</summary>
    private const int RebiasBits = (127 - 7) << 23;

    /// <summary>E4M3 mantissa bits (3) move to the top of float32's 23.</summary>
    private const int MantissaShift = 23 - 3;

    /// <summary>Subnormal E4M3 values are m·2^-9.</summary>
    private const float SubnormalUnit = 1f / 512f;

    /// <summary>The 4-byte scale groups of 16 rows: row i's word read at <paramref name="first"/> + i·stride.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Gather512(byte* first, int stride) =>
        Vector512.Create(Gather256(first, stride, 0), Gather256(first, stride, 8)); // no 512-bit gather is exposed

    /// <summary>The 4-byte scale groups of 8 rows starting at row <paramref name="firstRow"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Gather256(byte* first, int stride, int firstRow) =>
        Avx2.GatherVector256((int*)(first + firstRow * stride), Vector256.CreateSequence(0, stride), 1);

    /// <summary>Decodes byte <paramref name="index"/> (0..3) of each lane's group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Decode(Vector512<int> groups, int index)
    {
        Vector512<int> bytes = (groups >>> (8 * index)) & Vector512.Create(0xFF);
        Vector512<int> magnitude = bytes & Vector512.Create(0x7F);
        Vector512<float> normal = ((magnitude << MantissaShift) + Vector512.Create(RebiasBits)).AsSingle();
        Vector512<float> subnormal = Vector512.ConvertToSingle(magnitude) * Vector512.Create(SubnormalUnit);
        Vector512<float> value = Vector512.ConditionalSelect(Vector512.GreaterThan(magnitude, Vector512.Create(7)).AsSingle(), normal, subnormal);
        value = Vector512.ConditionalSelect(Vector512.Equals(magnitude, Vector512.Create(0x7F)).AsSingle(), Vector512.Create(NaNMagnitude), value);
        return (value.AsInt32() ^ ((bytes & Vector512.Create(0x80)) << 24)).AsSingle();
    }

    /// <summary>Decodes byte <paramref name="index"/> (0..3) of each lane's group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Decode(Vector256<int> groups, int index)
    {
        Vector256<int> bytes = (groups >>> (8 * index)) & Vector256.Create(0xFF);
        Vector256<int> magnitude = bytes & Vector256.Create(0x7F);
        Vector256<float> normal = ((magnitude << MantissaShift) + Vector256.Create(RebiasBits)).AsSingle();
        Vector256<float> subnormal = Vector256.ConvertToSingle(magnitude) * Vector256.Create(SubnormalUnit);
        Vector256<float> value = Vector256.ConditionalSelect(Vector256.GreaterThan(magnitude, Vector256.Create(7)).AsSingle(), normal, subnormal);
        value = Vector256.ConditionalSelect(Vector256.Equals(magnitude, Vector256.Create(0x7F)).AsSingle(), Vector256.Create(NaNMagnitude), value);
        return (value.AsInt32() ^ ((bytes & Vector256.Create(0x80)) << 24)).AsSingle();
    }

    /// <summary>The table's value of byte 0x7F; byte 0xFF is the same with the sign bit flipped.</summary>
    private static float NaNMagnitude => E4M3.Decode(0x7F);
}
