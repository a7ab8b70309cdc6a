using System;
using System.Runtime.CompilerServices;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// Runs one decoded tile over every slot of an expert: the slots' input rows (one row of <c>stride</c> floats per
/// slot, consecutive slots) are reduced into 16 accumulators per slot, with the mode's kernel
/// (<see cref="TileAccumulator"/>).
/// </summary>
internal static unsafe class CpuReduction
{
    /// <summary>
    /// Reduction indices decoded at a time: a 256 × 16 float32 tile is 16 KB, so FC1's two tiles (up and gate) fit a
    /// 32 KB L1 data cache together.
    /// </summary>
    public const int ReductionChunk = 256;

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
    public static void Accumulate(
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
