using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Microsoft.ML.B12x.Formats;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// Dequantises a tile of 16 weight rows into float32, transposed so the 16 rows of one reduction index are
/// contiguous: <c>tile[(c − column0)·16 + i] = value(code[row0 + i, c]) · decode(scale[row0 + i, c/16])</c>, which is
/// exact in float32 (at most 5 significant bits). The kernels then vectorise across the 16 output features.
/// </summary>
internal static unsafe class WeightTileDecoder
{
    /// <summary>Rows (output features) of one tile: one 16-lane vector of accumulators.</summary>
    public const int TileRows = 16;

    private const int BlockSize = SwizzledScaleLayout.BlockSize;

    /// <summary>
    /// Decodes rows [row0, row0 + 16) × columns [column0, column0 + length) of local expert <paramref name="expert"/>.
    /// row0, column0 and length are multiples of 16; <paramref name="tile"/> holds length·16 floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Decode(in PackedWeightMatrix matrix, int expert, int row0, int column0, int length, float* tile, CpuVectorIsa isa)
    {
        int scaleStride = matrix.ScaleRowStride;
        int groupBound = matrix.ScaleGroupBound;
        long rowBytes = matrix.Columns / 2;
        byte* firstRow = matrix.RowCodes(expert, row0) + column0 / 2;
        int firstBlock = column0 / BlockSize;
        int blocks = length / BlockSize;
        float* scales = stackalloc float[TileRows];
        Vector512<int> groups = default;
        Vector256<int> groupsLow = default, groupsHigh = default;
        for (int bl = 0; bl < blocks; bl++)
        {
            int block = firstBlock + bl;
            int inGroup = block & 3;
            byte* codes = firstRow + bl * (BlockSize / 2);
            float* destination = tile + bl * BlockSize * TileRows;
            // Vector paths read the scales of 4 blocks at once where that stays inside the scale tensor.
            bool grouped = isa != CpuVectorIsa.Scalar && block - inGroup + 4 <= groupBound;
            if (grouped && (inGroup == 0 || bl == 0))
            {
                byte* first = matrix.Scale(expert, row0, block - inGroup);
                if (isa == CpuVectorIsa.Avx512)
                {
                    groups = BlockScaleVectors.Gather512(first, scaleStride);
                }
                else
                {
                    groupsLow = BlockScaleVectors.Gather256(first, scaleStride, 0);
                    groupsHigh = BlockScaleVectors.Gather256(first, scaleStride, 8);
                }
            }
            if (!grouped)
            {
                byte* scale = matrix.Scale(expert, row0, block);
                for (int i = 0; i < TileRows; i++)
                {
                    scales[i] = E4M3.Decode(scale[i * scaleStride]);
                }
            }
            switch (isa)
            {
                case CpuVectorIsa.Avx512:
                    DecodeBlockAvx512(codes, rowBytes, grouped ? BlockScaleVectors.Decode(groups, inGroup) : Vector512.Load(scales), destination);
                    break;
                case CpuVectorIsa.Avx2:
                    DecodeBlockAvx2(
                        codes, rowBytes,
                        grouped ? BlockScaleVectors.Decode(groupsLow, inGroup) : Vector256.Load(scales),
                        grouped ? BlockScaleVectors.Decode(groupsHigh, inGroup) : Vector256.Load(scales + 8),
                        destination);
                    break;
                default:
                    DecodeBlockScalar(codes, rowBytes, scales, destination);
                    break;
            }
        }
    }

    /// <summary>The 64-bit word holding the 16 codes of one block of row <paramref name="row"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Word(byte* codes, long rowBytes, int row) => Unsafe.ReadUnaligned<ulong>(codes + row * rowBytes);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeBlockScalar(byte* codes, long rowBytes, float* scales, float* destination)
    {
        for (int i = 0; i < TileRows; i++)
        {
            ulong word = Word(codes, rowBytes, i);
            for (int h = 0; h < BlockSize; h++)
            {
                destination[h * TileRows + i] = E2M1.Decode((int)(word >> (4 * h))) * scales[i];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeBlockAvx2(byte* codes, long rowBytes, Vector256<float> lowScales, Vector256<float> highScales, float* destination)
    {
        // vpermps reads only the low 3 bits of each index, so the magnitude comes from the low 3 bits of the
        // shifted word and the sign (bit 3) is moved to bit 31 separately.
        Vector256<float> magnitudes = Vector256.Create(0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f);
        Vector256<uint> signBit = Vector256.Create(0x8000_0000u);
        for (int half = 0; half < 2; half++)
        {
            int r = 8 * half;
            Vector256<ulong> a = Vector256.Create(Word(codes, rowBytes, r), Word(codes, rowBytes, r + 1), Word(codes, rowBytes, r + 2), Word(codes, rowBytes, r + 3));
            Vector256<ulong> b = Vector256.Create(Word(codes, rowBytes, r + 4), Word(codes, rowBytes, r + 5), Word(codes, rowBytes, r + 6), Word(codes, rowBytes, r + 7));
            Vector256<uint> low = Vector256.Narrow(a, b);
            Vector256<uint> high = Vector256.Narrow(a >>> 32, b >>> 32);
            Vector256<float> scale = half == 0 ? lowScales : highScales;
            for (int k = 0; k < 8; k++)
            {
                Vector256<uint> lowCodes = low >>> (4 * k);
                Vector256<uint> highCodes = high >>> (4 * k);
                Vector256<float> lowValues = (Avx2.PermuteVar8x32(magnitudes, lowCodes.AsInt32()).AsUInt32() | ((lowCodes << 28) & signBit)).AsSingle();
                Vector256<float> highValues = (Avx2.PermuteVar8x32(magnitudes, highCodes.AsInt32()).AsUInt32() | ((highCodes << 28) & signBit)).AsSingle();
                (lowValues * scale).Store(destination + k * TileRows + r);
                (highValues * scale).Store(destination + (8 + k) * TileRows + r);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeBlockAvx512(byte* codes, long rowBytes, Vector512<float> scale, float* destination)
    {
        Vector512<float> values = E2M1Values512;
        LoadCodeWords512(codes, rowBytes, out Vector512<uint> low, out Vector512<uint> high);
        for (int k = 0; k < 8; k++)
        {
            (Avx512F.PermuteVar16x32(values, (low >>> (4 * k)).AsInt32()) * scale).Store(destination + k * TileRows);
            (Avx512F.PermuteVar16x32(values, (high >>> (4 * k)).AsInt32()) * scale).Store(destination + (8 + k) * TileRows);
        }
    }

    /// <summary>
    /// The sixteen E2M1 values as a permute table: vpermps on 512 bits reads the low 4 bits of each index, the whole
    /// code with its sign.
    /// </summary>
    internal static Vector512<float> E2M1Values512 =>
        Vector512.Create(0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f, -0f, -0.5f, -1f, -1.5f, -2f, -3f, -4f, -6f);

    /// <summary>
    /// The codes of one 16-element block of 16 rows: lane i of <paramref name="low"/> holds elements 0..7 of row i
    /// (element h in bits 4h..4h+3), lane i of <paramref name="high"/> elements 8..15.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void LoadCodeWords512(byte* codes, long rowBytes, out Vector512<uint> low, out Vector512<uint> high)
    {
        Vector512<ulong> a = Vector512.Create(
            Word(codes, rowBytes, 0), Word(codes, rowBytes, 1), Word(codes, rowBytes, 2), Word(codes, rowBytes, 3),
            Word(codes, rowBytes, 4), Word(codes, rowBytes, 5), Word(codes, rowBytes, 6), Word(codes, rowBytes, 7));
        Vector512<ulong> b = Vector512.Create(
            Word(codes, rowBytes, 8), Word(codes, rowBytes, 9), Word(codes, rowBytes, 10), Word(codes, rowBytes, 11),
            Word(codes, rowBytes, 12), Word(codes, rowBytes, 13), Word(codes, rowBytes, 14), Word(codes, rowBytes, 15));
        low = Vector512.Narrow(a, b);
        high = Vector512.Narrow(a >>> 32, b >>> 32);
    }
}
