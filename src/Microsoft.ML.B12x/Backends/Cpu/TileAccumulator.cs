using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// The reduction kernels of FC1 and FC2 in the canonical order of semantics.md, over a decoded tile
/// (<see cref="WeightTileDecoder"/>): 16 output features per call, vectorised across the features, never along the
/// reduction. Every ISA level performs the same float32 operations per feature in the same order.
/// </summary>
internal static unsafe class TileAccumulator
{
    private const int Lanes = WeightTileDecoder.TileRows;
    private const int BlockSize = 16;

    /// <summary>Tokens that share one pass over a tile in <see cref="AddProducts"/>.</summary>
    public const int MaxTokensPerPass = 4;

    /// <summary>
    /// NVFP4: for each block of 16 reduction indices in ascending order, acc[i] += Σ_h x[h]·tile[h][i]. Every product
    /// and every partial sum of a block is exact in float32 (multiples of (q·scale)/4 below 2^20 of them), so the
    /// sum inside a block is split into four independent chains for speed; only the block order matters.
    /// </summary>
    /// <param name="tile">length·16 decoded weights.</param>
    /// <param name="x">length quantised activations x̂ = value(code)·q.</param>
    /// <param name="length">A multiple of 16.</param>
    /// <param name="acc">16 accumulators.</param>
    /// <param name="isa">The instruction set to use.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddBlockSums(float* tile, float* x, int length, float* acc, CpuVectorIsa isa)
    {
        if (isa == CpuVectorIsa.Scalar)
        {
            AddBlockSumsScalar(tile, x, length, acc);
            return;
        }
        Vector256<float> accLow = Vector256.Load(acc), accHigh = Vector256.Load(acc + 8);
        for (int b = 0; b < length; b += BlockSize)
        {
            float* w = tile + b * Lanes;
            float* xb = x + b;
            Vector256<float> x0 = Vector256.Create(xb[0]), x1 = Vector256.Create(xb[1]), x2 = Vector256.Create(xb[2]), x3 = Vector256.Create(xb[3]);
            Vector256<float> p0l = x0 * Vector256.Load(w), p0h = x0 * Vector256.Load(w + 8);
            Vector256<float> p1l = x1 * Vector256.Load(w + 16), p1h = x1 * Vector256.Load(w + 24);
            Vector256<float> p2l = x2 * Vector256.Load(w + 32), p2h = x2 * Vector256.Load(w + 40);
            Vector256<float> p3l = x3 * Vector256.Load(w + 48), p3h = x3 * Vector256.Load(w + 56);
            for (int h = 4; h < BlockSize; h += 4)
            {
                float* wh = w + h * Lanes;
                x0 = Vector256.Create(xb[h]);
                x1 = Vector256.Create(xb[h + 1]);
                x2 = Vector256.Create(xb[h + 2]);
                x3 = Vector256.Create(xb[h + 3]);
                p0l = Fma.MultiplyAdd(x0, Vector256.Load(wh), p0l);
                p0h = Fma.MultiplyAdd(x0, Vector256.Load(wh + 8), p0h);
                p1l = Fma.MultiplyAdd(x1, Vector256.Load(wh + 16), p1l);
                p1h = Fma.MultiplyAdd(x1, Vector256.Load(wh + 24), p1h);
                p2l = Fma.MultiplyAdd(x2, Vector256.Load(wh + 32), p2l);
                p2h = Fma.MultiplyAdd(x2, Vector256.Load(wh + 40), p2h);
                p3l = Fma.MultiplyAdd(x3, Vector256.Load(wh + 48), p3l);
                p3h = Fma.MultiplyAdd(x3, Vector256.Load(wh + 56), p3h);
            }
            accLow += (p0l + p1l) + (p2l + p3l);
            accHigh += (p0h + p1h) + (p2h + p3h);
        }
        accLow.Store(acc);
        accHigh.Store(acc + 8);
    }

    /// <summary>
    /// W4A16: for h ascending, acc_g[i] = fp32(acc_g[i] + fp32(x_g[h]·tile[h][i])) for each of
    /// <paramref name="count"/> tokens (1 to <see cref="MaxTokensPerPass"/>). The product and the sum are rounded
    /// separately (no fused multiply-add): products of bf16 activations and decoded weights are exact (multiples of
    /// 2^-143 with at most 14 significant bits) unless they overflow, and there the contract's rounded product is ±Inf.
    /// </summary>
    /// <param name="tile">length·16 decoded weights.</param>
    /// <param name="length">Reduction indices in this tile.</param>
    /// <param name="x">count pointers to length activations.</param>
    /// <param name="acc">count pointers to 16 accumulators.</param>
    /// <param name="count">Tokens, 1 to 4.</param>
    /// <param name="isa">The instruction set to use.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddProducts(float* tile, int length, float** x, float** acc, int count, CpuVectorIsa isa)
    {
        if (isa == CpuVectorIsa.Scalar)
        {
            for (int g = 0; g < count; g++)
            {
                AddProductsScalar(tile, length, x[g], acc[g]);
            }
            return;
        }
        switch (count)
        {
            case 4:
                AddProducts4(tile, length, x, acc);
                break;
            case 3:
                AddProducts2(tile, length, x[0], x[1], acc[0], acc[1]);
                AddProducts1(tile, length, x[2], acc[2]);
                break;
            case 2:
                AddProducts2(tile, length, x[0], x[1], acc[0], acc[1]);
                break;
            default:
                AddProducts1(tile, length, x[0], acc[0]);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddBlockSumsScalar(float* tile, float* x, int length, float* acc)
    {
        for (int i = 0; i < Lanes; i++)
        {
            float sum = acc[i];
            for (int b = 0; b < length; b += BlockSize)
            {
                float block = 0f;
                for (int h = b; h < b + BlockSize; h++)
                {
                    block += x[h] * tile[h * Lanes + i];
                }
                sum += block;
            }
            acc[i] = sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddProductsScalar(float* tile, int length, float* x, float* acc)
    {
        for (int i = 0; i < Lanes; i++)
        {
            float sum = acc[i];
            for (int h = 0; h < length; h++)
            {
                float product = x[h] * tile[h * Lanes + i];
                sum += product;
            }
            acc[i] = sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Add(Vector256<float> sum, Vector256<float> x, Vector256<float> w) => sum + x * w;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddProducts1(float* tile, int length, float* x, float* acc)
    {
        Vector256<float> low = Vector256.Load(acc), high = Vector256.Load(acc + 8);
        for (int h = 0; h < length; h++)
        {
            Vector256<float> xv = Vector256.Create(x[h]);
            low = Add(low, xv, Vector256.Load(tile + h * Lanes));
            high = Add(high, xv, Vector256.Load(tile + h * Lanes + 8));
        }
        low.Store(acc);
        high.Store(acc + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddProducts2(float* tile, int length, float* x0, float* x1, float* acc0, float* acc1)
    {
        Vector256<float> l0 = Vector256.Load(acc0), h0 = Vector256.Load(acc0 + 8);
        Vector256<float> l1 = Vector256.Load(acc1), h1 = Vector256.Load(acc1 + 8);
        for (int h = 0; h < length; h++)
        {
            Vector256<float> wl = Vector256.Load(tile + h * Lanes), wh = Vector256.Load(tile + h * Lanes + 8);
            Vector256<float> a = Vector256.Create(x0[h]), b = Vector256.Create(x1[h]);
            l0 = Add(l0, a, wl);
            h0 = Add(h0, a, wh);
            l1 = Add(l1, b, wl);
            h1 = Add(h1, b, wh);
        }
        l0.Store(acc0);
        h0.Store(acc0 + 8);
        l1.Store(acc1);
        h1.Store(acc1 + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddProducts4(float* tile, int length, float** x, float** acc)
    {
        float* x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        Vector256<float> l0 = Vector256.Load(acc[0]), h0 = Vector256.Load(acc[0] + 8);
        Vector256<float> l1 = Vector256.Load(acc[1]), h1 = Vector256.Load(acc[1] + 8);
        Vector256<float> l2 = Vector256.Load(acc[2]), h2 = Vector256.Load(acc[2] + 8);
        Vector256<float> l3 = Vector256.Load(acc[3]), h3 = Vector256.Load(acc[3] + 8);
        for (int h = 0; h < length; h++)
        {
            Vector256<float> wl = Vector256.Load(tile + h * Lanes), wh = Vector256.Load(tile + h * Lanes + 8);
            Vector256<float> a = Vector256.Create(x0[h]), b = Vector256.Create(x1[h]);
            Vector256<float> c = Vector256.Create(x2[h]), d = Vector256.Create(x3[h]);
            l0 = Add(l0, a, wl);
            h0 = Add(h0, a, wh);
            l1 = Add(l1, b, wl);
            h1 = Add(h1, b, wh);
            l2 = Add(l2, c, wl);
            h2 = Add(h2, c, wh);
            l3 = Add(l3, d, wl);
            h3 = Add(h3, d, wh);
        }
        l0.Store(acc[0]);
        h0.Store(acc[0] + 8);
        l1.Store(acc[1]);
        h1.Store(acc[1] + 8);
        l2.Store(acc[2]);
        h2.Store(acc[2] + 8);
        l3.Store(acc[3]);
        h3.Store(acc[3] + 8);
    }
}
