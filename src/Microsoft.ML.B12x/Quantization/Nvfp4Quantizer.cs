using System;
using System.Threading.Tasks;
using Microsoft.ML.B12x.Formats;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Quantization;

/// <summary>
/// NVFP4 quantisation and dequantisation of TorchSharp tensors: weights with ModelOpt's recipe
/// (<see cref="QuantizeWeights"/>), activations with the operator's own step-1 quantiser
/// (<see cref="QuantizeActivations"/>), and conversion of block scales between the linear and the swizzled layout.
/// Work runs on the CPU; results are returned on the device of the input.
/// </summary>
public static class Nvfp4Quantizer
{
    private const int BlockSize = ActivationBlockQuantizer.BlockSize;

    /// <summary>
    /// Quantises expert weights with ModelOpt's NVFP4 recipe (checkpoint-formats.md §1), per expert e:
    /// S_e = fp32(amax_e / 2688) (1 for an all-zero expert, so nothing divides by zero); block scale byte =
    /// E4M3(clamp(s, 2^-9, 448)) with s = fp32(block_amax / fp32(6·S_e)) and a zero s replaced by 1;
    /// codes = E2M1(fp32(v / fp32(decode(scale)·S_e))), ties to even, saturating at ±6.
    /// </summary>
    /// <param name="weights">float32 or bfloat16 [E, N, C] (or [N, C], treated as one expert); C a multiple of 16;
    /// all values finite.</param>
    /// <returns>Codes uint8 [E, N, C/2], linear scales uint8 [E, N, C/16] and global scales float32 [E]
    /// ([N, C/2], [N, C/16] and [1] for a 2-D input).</returns>
    /// <exception cref="ArgumentException">Wrong dtype, rank or shape, or a non-finite value.</exception>
    public static QuantizedWeights QuantizeWeights(Tensor weights)
    {
        TensorChecks.NotNull(weights, nameof(weights));
        TensorChecks.Dtype(weights, nameof(weights), ScalarType.Float32, ScalarType.BFloat16);
        bool stacked = RequireMatrixOrStack(weights, nameof(weights), out int experts, out int rows, out int columns);
        RequireColumns(columns, nameof(weights), weights.shape);
        long[] codesShape = stacked ? new long[] { experts, rows, columns / 2 } : new long[] { rows, columns / 2 };
        long[] scalesShape = stacked ? new long[] { experts, rows, columns / BlockSize } : new long[] { rows, columns / BlockSize };

        using var scope = NewDisposeScope();
        Tensor codes = empty(codesShape, ScalarType.Byte);
        Tensor scales = empty(scalesShape, ScalarType.Byte);
        Tensor globalScales = empty(new long[] { experts }, ScalarType.Float32);
        Span<float> global = TensorPointers.HostSpanMutable<float>(globalScales);
        int codesPerRow = columns / 2, scalesPerRow = columns / BlockSize;
        for (int e = 0; e < experts; e++)
        {
            using Tensor matrix = (stacked ? weights.select(0, e) : weights.alias()).to(ScalarType.Float32, CPU).contiguous();
            float amax = Amax(matrix, rows, columns, e);
            float scale = WeightBlockQuantizer.GlobalScale(amax);
            global[e] = scale;
            long codeBase = (long)e * rows * codesPerRow, scaleBase = (long)e * rows * scalesPerRow;
            Parallel.For(0, rows, r =>
            {
                WeightBlockQuantizer.QuantizeRow(
                    TensorPointers.HostSlice<float>(matrix, (long)r * columns, columns),
                    scale,
                    TensorPointers.HostSliceMutable<byte>(codes, codeBase + (long)r * codesPerRow, codesPerRow),
                    TensorPointers.HostSliceMutable<byte>(scales, scaleBase + (long)r * scalesPerRow, scalesPerRow));
            });
        }
        return new QuantizedWeights(
            ToDevice(codes, weights.device), ToDevice(scales, weights.device), ToDevice(globalScales, weights.device));
    }

    /// <summary>
    /// Dequantises NVFP4 weights as ModelOpt does: w = fp32(value(code) · fp32(decode(scale) · S_e)).
    /// </summary>
    /// <param name="codes">uint8 [E, N, C/2] (or [N, C/2]).</param>
    /// <param name="linearScales">uint8 or float8_e4m3fn [E, N, C/16] (or [N, C/16]), linear layout.</param>
    /// <param name="globalScales">float32 [E] (or [1] for a 2-D input).</param>
    /// <returns>float32 [E, N, C] (or [N, C]) on the device of <paramref name="codes"/>.</returns>
    /// <exception cref="ArgumentException">Wrong dtype, rank or shape.</exception>
    public static Tensor DequantizeWeights(Tensor codes, Tensor linearScales, Tensor globalScales)
    {
        TensorChecks.NotNull(codes, nameof(codes));
        TensorChecks.Dtype(codes, nameof(codes), ScalarType.Byte);
        bool stacked = RequireMatrixOrStack(codes, nameof(codes), out int experts, out int rows, out int halfColumns);
        int columns = Widened(halfColumns, 2, nameof(codes), codes.shape);
        RequireColumns(columns, nameof(codes), codes.shape);
        TensorChecks.NotNull(linearScales, nameof(linearScales));
        TensorChecks.Dtype(linearScales, nameof(linearScales), ScalarType.Byte, TensorChecks.Float8E4M3);
        TensorChecks.Shape(linearScales, nameof(linearScales),
            stacked ? new long[] { experts, rows, columns / BlockSize } : new long[] { rows, columns / BlockSize });
        TensorChecks.NotNull(globalScales, nameof(globalScales));
        TensorChecks.Dtype(globalScales, nameof(globalScales), ScalarType.Float32);
        TensorChecks.Shape(globalScales, nameof(globalScales), experts);

        using var scope = NewDisposeScope();
        Tensor hostCodes = codes.cpu().contiguous();
        Tensor hostScales = linearScales.cpu().contiguous();
        float[] global = globalScales.cpu().contiguous().data<float>().ToArray();
        Tensor result = empty(stacked ? new long[] { experts, rows, columns } : new long[] { rows, columns }, ScalarType.Float32);
        int codesPerRow = columns / 2, scalesPerRow = columns / BlockSize;
        Parallel.For(0, (long)experts * rows, row =>
        {
            WeightBlockQuantizer.DequantizeRow(
                TensorPointers.HostSlice<byte>(hostCodes, row * codesPerRow, codesPerRow),
                TensorPointers.HostSlice<byte>(hostScales, row * scalesPerRow, scalesPerRow),
                global[row / rows],
                TensorPointers.HostSliceMutable<float>(result, row * columns, columns));
        });
        return ToDevice(result, codes.device);
    }

    /// <summary>
    /// Quantises activations with the operator's step-1 quantiser (<see cref="ActivationBlockQuantizer"/>), so the
    /// codes and scale bytes are the ones every backend computes inside the fused MoE call for the same input.
    /// </summary>
    /// <param name="x">bfloat16 or float32 [T, C]; C a multiple of 16.</param>
    /// <param name="globalScale">gs (e.g. ModelOpt's <c>input_scale</c>): finite and &gt; 0.</param>
    /// <returns>Codes uint8 [T, C/2] and linear scales uint8 [T, C/16], with <paramref name="globalScale"/>.</returns>
    /// <exception cref="ArgumentException">Wrong dtype, rank or shape, or a global scale that is not finite and positive.</exception>
    public static QuantizedActivations QuantizeActivations(Tensor x, float globalScale)
    {
        TensorChecks.NotNull(x, nameof(x));
        TensorChecks.Dtype(x, nameof(x), ScalarType.Float32, ScalarType.BFloat16);
        TensorChecks.Rank(x, nameof(x), 2);
        RequireGlobalScale(globalScale, nameof(globalScale));
        int tokens = TensorChecks.Dimension(x, nameof(x), 0), columns = TensorChecks.Dimension(x, nameof(x), 1);
        RequireColumns(columns, nameof(x), x.shape);

        using var scope = NewDisposeScope();
        Tensor values = x.to(ScalarType.Float32, CPU).contiguous();
        Tensor codes = empty(new long[] { tokens, columns / 2 }, ScalarType.Byte);
        Tensor scales = empty(new long[] { tokens, columns / BlockSize }, ScalarType.Byte);
        Parallel.For(0, tokens, t =>
        {
            ActivationBlockQuantizer.QuantizeRow(
                TensorPointers.HostSlice<float>(values, (long)t * columns, columns),
                globalScale,
                TensorPointers.HostSliceMutable<byte>(codes, (long)t * (columns / 2), columns / 2),
                TensorPointers.HostSliceMutable<byte>(scales, (long)t * (columns / BlockSize), columns / BlockSize));
        });
        return new QuantizedActivations(ToDevice(codes, x.device), ToDevice(scales, x.device), globalScale);
    }

    /// <summary>
    /// Dequantises activations: x = fp32(value(code) · fp32(decode(scale) · gs)), the same rule as
    /// <see cref="DequantizeWeights"/>.
    /// </summary>
    /// <param name="codes">uint8 [T, C/2].</param>
    /// <param name="scales">uint8 or float8_e4m3fn [T, C/16], linear layout.</param>
    /// <param name="globalScale">gs: finite and &gt; 0.</param>
    /// <returns>float32 [T, C] on the device of <paramref name="codes"/>.</returns>
    /// <exception cref="ArgumentException">Wrong dtype, rank or shape, or a global scale that is not finite and positive.</exception>
    public static Tensor DequantizeActivations(Tensor codes, Tensor scales, float globalScale)
    {
        TensorChecks.NotNull(codes, nameof(codes));
        TensorChecks.Dtype(codes, nameof(codes), ScalarType.Byte);
        TensorChecks.Rank(codes, nameof(codes), 2);
        RequireGlobalScale(globalScale, nameof(globalScale));
        int tokens = TensorChecks.Dimension(codes, nameof(codes), 0);
        int columns = Widened(TensorChecks.Dimension(codes, nameof(codes), 1), 2, nameof(codes), codes.shape);
        RequireColumns(columns, nameof(codes), codes.shape);
        TensorChecks.NotNull(scales, nameof(scales));
        TensorChecks.Dtype(scales, nameof(scales), ScalarType.Byte, TensorChecks.Float8E4M3);
        TensorChecks.Shape(scales, nameof(scales), tokens, columns / BlockSize);

        using var scope = NewDisposeScope();
        Tensor hostCodes = codes.cpu().contiguous();
        Tensor hostScales = scales.cpu().contiguous();
        Tensor result = empty(new long[] { tokens, columns }, ScalarType.Float32);
        Parallel.For(0, tokens, t =>
        {
            WeightBlockQuantizer.DequantizeRow(
                TensorPointers.HostSlice<byte>(hostCodes, (long)t * (columns / 2), columns / 2),
                TensorPointers.HostSlice<byte>(hostScales, (long)t * (columns / BlockSize), columns / BlockSize),
                globalScale,
                TensorPointers.HostSliceMutable<float>(result, (long)t * columns, columns));
        });
        return ToDevice(result, codes.device);
    }

    /// <summary>
    /// Converts linear block scales to the operator's default swizzled 128×4 layout (see
    /// <see cref="SwizzledScaleLayout"/>), padding bytes zero.
    /// </summary>
    /// <param name="linearScales">uint8 or float8_e4m3fn [E, N, C/16] (or [N, C/16]).</param>
    /// <returns>uint8 [E, Np, Cbp] (or [Np, Cbp]) with Np = 128·⌈N/128⌉ and Cbp = 4·⌈(C/16)/4⌉.</returns>
    /// <exception cref="ArgumentException">Wrong dtype or rank.</exception>
    public static Tensor SwizzleScales(Tensor linearScales)
    {
        TensorChecks.NotNull(linearScales, nameof(linearScales));
        TensorChecks.Dtype(linearScales, nameof(linearScales), ScalarType.Byte, TensorChecks.Float8E4M3);
        bool stacked = RequireMatrixOrStack(linearScales, nameof(linearScales), out int experts, out int rows, out int blocks);
        int columns = Widened(blocks, BlockSize, nameof(linearScales), linearScales.shape);
        using var scope = NewDisposeScope();
        Tensor host = linearScales.cpu().contiguous();
        byte[] swizzled = SwizzledScaleLayout.FromLinear(TensorPointers.HostSpan<byte>(host), experts, rows, columns);
        int paddedRows = SwizzledScaleLayout.PaddedRows(rows), paddedBlocks = SwizzledScaleLayout.PaddedBlocks(columns);
        Tensor result = FromBytes(swizzled,
            stacked ? new long[] { experts, paddedRows, paddedBlocks } : new long[] { paddedRows, paddedBlocks });
        return ToDevice(result, linearScales.device);
    }

    /// <summary>Converts swizzled 128×4 block scales back to the linear layout (padding dropped).</summary>
    /// <param name="swizzledScales">uint8 or float8_e4m3fn, contiguous storage of E·Np·Cbp bytes in any shape.</param>
    /// <param name="rows">N, the rows of one expert's matrix.</param>
    /// <param name="columns">C, the reduction length of the matrix (a multiple of 16).</param>
    /// <returns>uint8 [E, N, C/16].</returns>
    /// <exception cref="ArgumentException">A size that is not a whole number of experts, or bad sizes.</exception>
    public static Tensor UnswizzleScales(Tensor swizzledScales, int rows, int columns)
    {
        TensorChecks.NotNull(swizzledScales, nameof(swizzledScales));
        TensorChecks.Dtype(swizzledScales, nameof(swizzledScales), ScalarType.Byte, TensorChecks.Float8E4M3);
        if (rows < 1 || rows > int.MaxValue - SwizzledScaleLayout.RowTile)
        {
            // The upper bound keeps Np = 128·⌈rows/128⌉ within int.
            throw new ArgumentOutOfRangeException(
                nameof(rows), rows, $"rows must be in [1, {int.MaxValue - SwizzledScaleLayout.RowTile}].");
        }
        if (columns < BlockSize || columns % BlockSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(columns), columns, $"columns must be a positive multiple of {BlockSize}.");
        }
        long perExpert = SwizzledScaleLayout.BytesPerExpert(rows, columns);
        long total = swizzledScales.numel();
        if (total == 0 || total % perExpert != 0 || total / perExpert > int.MaxValue)
        {
            throw new ArgumentException(
                $"{nameof(swizzledScales)} must hold a whole number of experts (at most {int.MaxValue}) of {perExpert} bytes (Np·Cbp for {rows}×{columns}); got {total} bytes.",
                nameof(swizzledScales));
        }
        int experts = (int)(total / perExpert);
        using var scope = NewDisposeScope();
        Tensor host = swizzledScales.cpu().contiguous();
        byte[] linear = SwizzledScaleLayout.ToLinear(TensorPointers.HostSpan<byte>(host), experts, rows, columns);
        return ToDevice(FromBytes(linear, new long[] { experts, rows, columns / BlockSize }), swizzledScales.device);
    }

    private static bool RequireMatrixOrStack(Tensor tensor, string name, out int experts, out int rows, out int columns)
    {
        long rank = tensor.dim();
        if (rank != 2 && rank != 3)
        {
            throw new ArgumentException($"{name} must have rank 2 [N, C] or 3 [E, N, C]; got shape {TensorChecks.ShapeText(tensor.shape)}.", name);
        }
        bool stacked = rank == 3;
        experts = stacked ? TensorChecks.Dimension(tensor, name, 0) : 1;
        rows = TensorChecks.Dimension(tensor, name, (int)rank - 2);
        columns = TensorChecks.Dimension(tensor, name, (int)rank - 1);
        if (experts < 1 || rows < 1)
        {
            throw new ArgumentException($"{name} must not be empty; got shape {TensorChecks.ShapeText(tensor.shape)}.", name);
        }
        return stacked;
    }

    /// <summary>Elements of a row stored as <paramref name="stored"/> units of <paramref name="factor"/> elements each.</summary>
    private static int Widened(int stored, int factor, string name, long[] shape)
    {
        long elements = (long)stored * factor;
        if (elements > int.MaxValue)
        {
            throw new ArgumentException(
                $"{name}: a row of {elements} elements exceeds {int.MaxValue}; got shape {TensorChecks.ShapeText(shape)}.", name);
        }
        return (int)elements;
    }

    private static void RequireColumns(int columns, string name, long[] shape)
    {
        if (columns < BlockSize || columns % BlockSize != 0)
        {
            throw new ArgumentException(
                $"{name}: the reduction length C must be a positive multiple of {BlockSize}; got shape {TensorChecks.ShapeText(shape)}.", name);
        }
    }

    private static void RequireGlobalScale(float globalScale, string name)
    {
        if (!float.IsFinite(globalScale) || !(globalScale > 0f))
        {
            throw new ArgumentOutOfRangeException(name, globalScale, "The global scale must be finite and > 0.");
        }
    }

    private static float Amax(Tensor matrix, int rows, int columns, int expert)
    {
        var rowAmax = new float[rows];
        var badRow = new int[rows];
        Parallel.For(0, rows, r =>
        {
            ReadOnlySpan<float> row = TensorPointers.HostSlice<float>(matrix, (long)r * columns, columns);
            float amax = 0f;
            int bad = -1;
            for (int i = 0; i < row.Length; i++)
            {
                if (!float.IsFinite(row[i]))
                {
                    bad = i;
                    break;
                }
                amax = MathF.Max(amax, MathF.Abs(row[i]));
            }
            rowAmax[r] = amax;
            badRow[r] = bad;
        });
        float result = 0f;
        for (int r = 0; r < rows; r++)
        {
            if (badRow[r] >= 0)
            {
                throw new ArgumentException(
                    $"weights must be finite; got {TensorPointers.HostSlice<float>(matrix, (long)r * columns, columns)[badRow[r]]} at expert {expert}, row {r}, column {badRow[r]}.",
                    "weights");
            }
            result = MathF.Max(result, rowAmax[r]);
        }
        return result;
    }

    private static Tensor FromBytes(byte[] bytes, long[] shape)
    {
        Tensor tensor = empty(shape, ScalarType.Byte);
        bytes.CopyTo(TensorPointers.HostSpanMutable<byte>(tensor));
        return tensor;
    }

    /// <summary>Moves a CPU result to <paramref name="device"/> and out of the caller's dispose scope.</summary>
    private static Tensor ToDevice(Tensor host, Device device) =>
        (device.type == DeviceType.CPU ? host : host.to(device)).MoveToOuterDisposeScope();
}
