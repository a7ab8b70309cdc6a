using System.Runtime.CompilerServices;
using Microsoft.ML.B12x.Formats;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// One NVFP4 weight tensor of the layer as raw host memory: codes [E_loc, N, C/2] (two E2M1 codes per byte, element
/// 2j in the low nibble) and E4M3 block scales in the swizzled or linear layout. Tensors can exceed 2 GB, so
/// addresses are pointers with 64-bit offsets; the shapes were validated by <see cref="MoeProblem"/>.
/// </summary>
internal readonly unsafe struct PackedWeightMatrix
{
    private readonly byte* _codes;
    private readonly byte* _scales;
    private readonly bool _swizzled;
    private readonly int _paddedBlocks;
    private readonly long _swizzledBytesPerExpert;

    public PackedWeightMatrix(byte* codes, byte* scales, int rows, int columns, ScaleLayout layout)
    {
        _codes = codes;
        _scales = scales;
        Rows = rows;
        Columns = columns;
        _swizzled = layout == ScaleLayout.Swizzled128x4;
        _paddedBlocks = SwizzledScaleLayout.PaddedBlocks(columns);
        _swizzledBytesPerExpert = SwizzledScaleLayout.BytesPerExpert(rows, columns);
    }

    /// <summary>N: rows (output features) of one expert.</summary>
    public int Rows { get; }

    /// <summary>C: reduction length of one expert.</summary>
    public int Columns { get; }

    /// <summary>
    /// Distance in bytes between the scales of rows r and r+1 at the same block, valid inside a 16-row tile that
    /// starts at a multiple of 16: such a tile never crosses a 32-row group of the swizzle, where the row stride is 16.
    /// </summary>
    public int ScaleRowStride => _swizzled ? 16 : Columns / SwizzledScaleLayout.BlockSize;

    /// <summary>
    /// Scale bytes of 4 consecutive blocks 4g..4g+3 of one row are adjacent in both layouts. Such a group may be read
    /// as one 4-byte word when 4g + 4 ≤ this bound: the padded block count for swizzled storage (padding bytes
    /// exist), the real one for linear scales (so a row's last partial group is never read past the tensor).
    /// </summary>
    public int ScaleGroupBound => _swizzled ? _paddedBlocks : Columns / SwizzledScaleLayout.BlockSize;

    /// <summary>The packed codes of one row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* RowCodes(int expert, int row) => _codes + ((long)expert * Rows + row) * (Columns / 2);

    /// <summary>The address of the scale byte of (local expert, row, block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Scale(int expert, int row, int block) => _swizzled
        ? _scales + expert * _swizzledBytesPerExpert + SwizzledScaleLayout.OffsetInExpert(row, block, _paddedBlocks)
        : _scales + ((long)expert * Rows + row) * (Columns / SwizzledScaleLayout.BlockSize) + block;
}
