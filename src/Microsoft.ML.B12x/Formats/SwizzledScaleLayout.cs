using System;
using System.Runtime.CompilerServices;

namespace Microsoft.ML.B12x.Formats;

/// <summary>
/// The "128×4" swizzled block-scale layout that NVIDIA's block-scaled tensor-core MMAs read (CUTLASS's
/// <c>Sm1xxBlockScaledConfig</c>, FlashInfer's <c>convert_sf_to_mma_layout</c>), one matrix per expert.
/// <para>
/// For a matrix of N rows (output features) and C reduction elements, scales come in blocks of 16 along C:
/// Np = 128·⌈N/128⌉ padded rows and Cbp = 4·⌈(C/16)/4⌉ padded block columns. Storage is
/// [E][Np/128][Cbp/4][32][4][4] bytes, so the scale of (expert e, row r, block b) lives at
/// <c>e·Np·Cbp + (r/128)·(Cbp·128) + (b/4)·512 + (r%32)·16 + ((r%128)/32)·4 + b%4</c>.
/// Padding bytes are zero and never read as data. FlashInfer passes the same bytes as a 6-D logical view of shape
/// (32, 4, Np/128, 4, Cbp/4, E) whose element [a, b, c, d, f, e] is the scale of row 128c+32b+a, block 4f+d.
/// </para>
/// The same formula is stated in <c>native/src/common/scale_layout.cuh</c>; the two are tested against each other.
/// </summary>
public static class SwizzledScaleLayout
{
    /// <summary>Rows of one swizzle atom.</summary>
    public const int RowTile = 128;

    /// <summary>Block columns of one swizzle atom.</summary>
    public const int BlockTile = 4;

    /// <summary>Elements that share one scale.</summary>
    public const int BlockSize = 16;

    /// <summary>Np: rows padded to a multiple of 128.</summary>
    public static int PaddedRows(int rows) => checked((rows + RowTile - 1) / RowTile * RowTile);

    /// <summary>Cbp: 16-element blocks of a row padded to a multiple of 4.</summary>
    public static int PaddedBlocks(int columns) => checked((columns / BlockSize + BlockTile - 1) / BlockTile * BlockTile);

    /// <summary>Bytes of one expert's scales: Np·Cbp.</summary>
    public static long BytesPerExpert(int rows, int columns) => (long)PaddedRows(rows) * PaddedBlocks(columns);

    /// <summary>Bytes of all experts' scales: E·Np·Cbp.</summary>
    public static long TotalBytes(int experts, int rows, int columns) => experts * BytesPerExpert(rows, columns);

    /// <summary>The 6-D logical view's shape (32, 4, Np/128, 4, Cbp/4, E).</summary>
    public static long[] ViewShape(int experts, int rows, int columns) =>
        new long[] { 32, 4, PaddedRows(rows) / RowTile, 4, PaddedBlocks(columns) / BlockTile, experts };

    /// <summary>Byte offset of (row, block) inside one expert whose padded block count is <paramref name="paddedBlocks"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int OffsetInExpert(int row, int block, int paddedBlocks) =>
        (row >> 7) * (paddedBlocks << 7) + (block >> 2) * 512 + (row & 31) * 16 + ((row & 127) >> 5) * 4 + (block & 3);

    /// <summary>Byte offset of (expert, row, block) for a matrix of <paramref name="rows"/> × <paramref name="columns"/>.</summary>
    public static long Offset(int expert, int row, int block, int rows, int columns)
    {
        int paddedBlocks = PaddedBlocks(columns);
        return expert * (long)PaddedRows(rows) * paddedBlocks + OffsetInExpert(row, block, paddedBlocks);
    }

    /// <summary>
    /// Swizzles linear scales [E, N, C/16] into swizzled storage [E, Np, Cbp] (padding zero).
    /// </summary>
    public static byte[] FromLinear(ReadOnlySpan<byte> linear, int experts, int rows, int columns)
    {
        int blocks = LinearScaleLayout.Blocks(columns);
        long expected = LinearScaleLayout.TotalBytes(experts, rows, columns);
        if (linear.Length != expected)
        {
            throw new ArgumentException(
                $"Expected {expected} linear scale bytes for [{experts}, {rows}, {blocks}], got {linear.Length}.", nameof(linear));
        }
        var swizzled = new byte[TotalBytes(experts, rows, columns)];
        int paddedBlocks = PaddedBlocks(columns);
        long perExpert = BytesPerExpert(rows, columns);
        for (int e = 0; e < experts; e++)
        {
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<byte> source = linear.Slice((int)(((long)e * rows + r) * blocks), blocks);
                for (int b = 0; b < blocks; b++)
                {
                    swizzled[e * perExpert + OffsetInExpert(r, b, paddedBlocks)] = source[b];
                }
            }
        }
        return swizzled;
    }

    /// <summary>Unswizzles storage [E, Np, Cbp] into linear scales [E, N, C/16] (padding dropped).</summary>
    public static byte[] ToLinear(ReadOnlySpan<byte> swizzled, int experts, int rows, int columns)
    {
        long expected = TotalBytes(experts, rows, columns);
        if (swizzled.Length != expected)
        {
            throw new ArgumentException(
                $"Expected {expected} swizzled scale bytes for {experts} experts of {rows}×{columns}, got {swizzled.Length}.",
                nameof(swizzled));
        }
        int blocks = LinearScaleLayout.Blocks(columns);
        var linear = new byte[LinearScaleLayout.TotalBytes(experts, rows, columns)];
        int paddedBlocks = PaddedBlocks(columns);
        long perExpert = BytesPerExpert(rows, columns);
        for (int e = 0; e < experts; e++)
        {
            for (int r = 0; r < rows; r++)
            {
                Span<byte> destination = linear.AsSpan((int)(((long)e * rows + r) * blocks), blocks);
                for (int b = 0; b < blocks; b++)
                {
                    destination[b] = swizzled[(int)(e * perExpert + OffsetInExpert(r, b, paddedBlocks))];
                }
            }
        }
        return linear;
    }
}
