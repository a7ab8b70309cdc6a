using System.Runtime.CompilerServices;

namespace Microsoft.ML.B12x.Formats;

/// <summary>
/// Row-major block scales [E, N, C/16], as checkpoints store them (ModelOpt <c>weight_scale</c>,
/// compressed-tensors <c>weight_scale</c>): the scale of (expert e, row r, block b) is at <c>(e·N + r)·(C/16) + b</c>.
/// </summary>
public static class LinearScaleLayout
{
    /// <summary>Blocks of 16 elements per row: C/16.</summary>
    public static int Blocks(int columns) => columns / SwizzledScaleLayout.BlockSize;

    /// <summary>Bytes of all experts' scales: E·N·C/16.</summary>
    public static long TotalBytes(int experts, int rows, int columns) => (long)experts * rows * Blocks(columns);

    /// <summary>Byte offset of (expert, row, block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Offset(int expert, int row, int block, int rows, int columns) =>
        ((long)expert * rows + row) * Blocks(columns) + block;
}
