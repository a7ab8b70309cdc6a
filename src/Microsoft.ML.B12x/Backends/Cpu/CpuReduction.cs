using System;
using System.Runtime.CompilerServices;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// The reduction of 16 weight rows of one expert for every slot of that expert: the slots' input rows (one row of
/// <c>stride</c> floats per slot, consecutive slots) are reduced into 16 accumulators per slot. The weights are
/// decoded into a tile chunk by chunk and the tile is run over every slot with the mode's kernel
/// (<see cref="TileAccumulator"/>); a single NVFP4 slot skips the tile where <see cref="DirectBlockAccumulator"/> runs.
/// </summary>
internal static unsafe class CpuReduction
{
    /// <summary>
    /// Reduction indices decoded at a time: a 256 × 16 float32 tile is 16 KB, which stays in a 32 KB L1 data cache
    /// next to the slots' input rows while every slot runs over it.
    /// </summary>
    public const int ReductionChunk = 256;

    /// <summary>Adds the reduction of rows [row0, row0 + 16) of local expert <paramref name="expert"/> for every slot.</summary>
    /// <param name="matrix">The weights.</param>
    /// <param name="expert">The local expert.</param>
    /// <param name="row0">The first of the 16 rows.</param>
    /// <param name="firstInput">The input row of the expert's first slot.</param>
    /// <param name="stride">Floats between the input rows of consecutive slots.</param>
    /// <param name="slots">The expert's slots.</param>
    /// <param name="accumulators">16 floats per slot.</param>
    /// <param name="tile">Scratch for <see cref="ReductionChunk"/>·16 decoded weights.</param>
    /// <param name="blockSums">NVFP4: add exact 16-block sums; W4A16: add products one at a time.</param>
    /// <param name="isa">The instruction set of the kernels.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ReduceRows(
        in PackedWeightMatrix matrix, int expert, int row0, float* firstInput, int stride, int slots, float* accumulators,
        float* tile, bool blockSums, CpuVectorIsa isa)
    {
        if (blockSums && slots == 1 && DirectBlockAccumulator.Supports(isa))
        {
            DirectBlockAccumulator.Accumulate(matrix, expert, row0, firstInput, accumulators);
            return;
        }
        int columns = matrix.Columns;
        for (int column0 = 0; column0 < columns; column0 += ReductionChunk)
        {
            int length = Math.Min(ReductionChunk, columns - column0);
            WeightTileDecoder.Decode(matrix, expert, row0, column0, length, tile, isa);
            Accumulate(tile, firstInput, stride, slots, column0, length, accumulators, blockSums, isa);
        }
    }

    /// <summary>Runs one decoded tile over every slot (W4A16: up to four slots per pass over the tile).</summary>
    /// <param name="tile">The decoded tile of reduction indices [column0, column0 + length).</param>
    /// <param name="firstInput">The input row of the expert's first slot.</param>
    /// <param name="stride">Floats between the input rows of consecutive slots.</param>
    /// <param name="slots">The expert's slots.</param>
    /// <param name="column0">The first reduction index of the tile.</param>
    /// <param name="length">Reduction indices in the tile.</param>
    /// <param name="accumulators">16 floats per slot.</param>
    /// <param name="blockSums">NVFP4: add exact 16-block sums; W4A16: add products one at a time.</param>
    /// <param name="isa">The instruction set of the kernels.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Accumulate(
        float* tile, float* firstInput, int stride, int slots, int column0, int length, float* accumulators,
        bool blockSums, CpuVectorIsa isa)
    {
        const int lanes = WeightTileDecoder.TileRows;
        if (blockSums)
        {
            for (int s = 0; s < slots; s++)
            {
                TileAccumulator.AddBlockSums(tile, firstInput + (long)s * stride + column0, length, accumulators + s * lanes, isa);
            }
            return;
        }
        float** inputs = stackalloc float*[TileAccumulator.MaxTokensPerPass];
        float** sums = stackalloc float*[TileAccumulator.MaxTokensPerPass];
        for (int s = 0; s < slots; s += TileAccumulator.MaxTokensPerPass)
        {
            int count = Math.Min(TileAccumulator.MaxTokensPerPass, slots - s);
            for (int g = 0; g < count; g++)
            {
                inputs[g] = firstInput + (long)(s + g) * stride + column0;
                sums[g] = accumulators + (s + g) * lanes;
            }
            TileAccumulator.AddProducts(tile, length, inputs, sums, count, isa);
        }
    }
}
