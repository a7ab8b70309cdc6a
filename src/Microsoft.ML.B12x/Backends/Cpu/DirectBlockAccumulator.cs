using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Microsoft.ML.B12x.Formats;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// NVFP4 reduction of 16 weight rows for a single slot without a decoded tile (AVX-512): codes become E2M1 values
/// in registers, each 16-block sum Σ x̂_h·value_h is formed exactly, and the block's scale multiplies that sum once,
/// acc += (Σ x̂_h·value_h)·scale in ascending block order. The product by the scale is exact (at most 20 significant
/// bits), so this adds exactly the block sums the tiled path (<see cref="TileAccumulator.AddBlockSums"/>) adds and
/// gives the same bits; it only saves storing and reloading the tile when one token uses an expert.
/// </summary>
internal static unsafe class DirectBlockAccumulator
{
    private const int BlockSize = SwizzledScaleLayout.BlockSize;

    /// <summary>True when this path can run with <paramref name="isa"/>.</summary>
    public static bool Supports(CpuVectorIsa isa) => isa == CpuVectorIsa.Avx512;

    /// <summary>
    /// Adds the whole reduction of rows [row0, row0 + 16) of local expert <paramref name="expert"/> with one slot's
    /// quantised input <paramref name="x"/> (C floats) to <paramref name="acc"/> (16 floats).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Accumulate(in PackedWeightMatrix matrix, int expert, int row0, float* x, float* acc)
    {
        int scaleStride = matrix.ScaleRowStride;
        int groupBound = matrix.ScaleGroupBound;
        long rowBytes = matrix.Columns / 2;
        byte* firstRow = matrix.RowCodes(expert, row0);
        int blocks = matrix.Columns / BlockSize;
        Vector512<float> values = WeightTileDecoder.E2M1Values512;
        Vector512<float> sum = Vector512.Load(acc);
        Vector512<int> groups = default;
        float* scales = stackalloc float[WeightTileDecoder.TileRows];
        for (int block = 0; block < blocks; block++)
        {
            int inGroup = block & 3;
            Vector512<float> scale;
            if (block - inGroup + 4 <= groupBound)
            {
                if (inGroup == 0)
                {
                    groups = BlockScaleVectors.Gather512(matrix.Scale(expert, row0, block), scaleStride);
                }
                scale = BlockScaleVectors.Decode(groups, inGroup);
            }
            else
            {
                byte* bytes = matrix.Scale(expert, row0, block);
                for (int i = 0; i < WeightTileDecoder.TileRows; i++)
                {
                    scales[i] = E4M3.Decode(bytes[i * scaleStride]);
                }
                scale = Vector512.Load(scales);
            }

            WeightTileDecoder.LoadCodeWords512(firstRow + block * (BlockSize / 2), rowBytes, out Vector512<uint> low, out Vector512<uint> high);
            float* xb = x + block * BlockSize;
            // Two independent chains (elements 0..7 and 8..15); every partial sum is exact, so the split is free.
            Vector512<float> first = Vector512.Create(xb[0]) * Avx512F.PermuteVar16x32(values, low.AsInt32());
            Vector512<float> second = Vector512.Create(xb[8]) * Avx512F.PermuteVar16x32(values, high.AsInt32());
            for (int k = 1; k < 8; k++)
            {
                first = Avx512F.FusedMultiplyAdd(Vector512.Create(xb[k]), Avx512F.PermuteVar16x32(values, (low >>> (4 * k)).AsInt32()), first);
                second = Avx512F.FusedMultiplyAdd(Vector512.Create(xb[8 + k]), Avx512F.PermuteVar16x32(values, (high >>> (4 * k)).AsInt32()), second);
            }
            sum = Avx512F.FusedMultiplyAdd(first + second, scale, sum);
        }
        sum.Store(acc);
    }
}
