using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.B12x.Tests.Infrastructure;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Properties;

/// <summary>How swizzled block scales are handed to the operator (semantics.md, "Scale tensors", forms a and b).</summary>
internal enum SwizzledScaleForm
{
    /// <summary>Contiguous storage shaped [E_loc, Np, Cbp].</summary>
    Storage,

    /// <summary>The same storage flattened to one dimension ("any shape").</summary>
    Flat,

    /// <summary>FlashInfer's 6-D logical view (32, 4, Np/128, 4, Cbp/4, E_loc) of the storage, non-contiguous.</summary>
    View,

    /// <summary>A contiguous copy of that 6-D view (different bytes order, read by logical index).</summary>
    ViewCopy,
}

/// <summary>
/// One random, valid <see cref="B12xOps.FusedMoe"/> call drawn from a seed: any shape from 0 tokens to top_k = E with
/// E up to 512 and H, I down to 16; every mode and option the contract lists (quant mode, activation, source format,
/// scale layout and form, E4M3 scales as uint8 or float8, input_global_scale, [1]/[E]/[E_loc] scalars, an
/// expert-parallel rank, int32 or int64 ids); ids mixing valid, other-rank, repeated and invalid values (negative,
/// ≥ E, ±2^31, int64 extremes and values that truncate to a valid int32 id); non-finite rows of x; zero and negative
/// routing weights; a caller-provided output buffer full of NaN; any CPU thread count and kernel strategy; every
/// argument as a contiguous view at an unaligned offset.
/// Sizes are capped so that the oracle's scalar loops stay around a million multiply-adds per case.
/// </summary>
internal sealed record RandomMoeCase(
    MoeCaseData Data, SwizzledScaleForm ScaleForm, bool Float8Scales, bool OutputBuffer, int? Threads, KernelStrategy Strategy,
    int MisalignedBy)
{
    /// <summary>Multiply-adds of all routed pairs (each pair: W1Rows·H + H·I) the oracle may spend on one case.</summary>
    private const long MultiplyAddBudget = 1_500_000;

    /// <summary>Bytes of weight codes per case (E_loc·(W1Rows + H)·H·I / 2 at most), so E = 512 keeps H and I small.</summary>
    private const long WeightByteBudget = 1_000_000;

    private static readonly int[] s_sizes = [16, 16, 32, 48, 64, 80, 128, 144, 256, 400, 1040];
    private static readonly int[] s_experts = [1, 2, 3, 4, 7, 8, 16, 33, 64, 128, 256, 512];
    private static readonly int[] s_tokens = [0, 1, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 40];

    public static RandomMoeCase Create(int seed)
    {
        var random = new Random(seed);
        int experts = Pick(random, s_experts);
        int hidden = Pick(random, s_sizes), intermediate = Pick(random, s_sizes);
        bool silu = random.Next(2) == 0;
        while ((long)experts * ((silu ? 2 : 1) * intermediate + hidden) * hidden / 2 > WeightByteBudget)
        {
            // Shrink the larger of H and I until E experts fit the weight budget (H = I = 16 always fits E = 512).
            if (hidden >= intermediate) { hidden = Math.Max(16, hidden / 2 / 16 * 16); } else { intermediate = Math.Max(16, intermediate / 2 / 16 * 16); }
        }
        int topK = random.Next(8) switch
        {
            0 or 1 => 1,
            2 => experts,
            3 => experts + random.Next(1, 3), // more routes than experts: ids repeat
            _ => random.Next(1, Math.Min(experts, 16) + 1),
        };
        long perPair = (long)((silu ? 2 : 1) * intermediate + intermediate) * hidden;
        int tokens = Pick(random, s_tokens);
        tokens = (int)Math.Min(tokens, Math.Max(1, MultiplyAddBudget / (perPair * topK)));

        bool nvfp4 = random.Next(2) == 0;
        int? local = null;
        int offset = 0;
        if (experts >= 2 && random.Next(10) < 3)
        {
            local = random.Next(1, experts + 1);
            offset = random.Next(0, experts - local.Value + 1);
        }
        var spec = new MoeCaseSpec(
            Tokens: tokens, Hidden: hidden, Intermediate: intermediate, Experts: experts, TopK: topK,
            Activation: silu ? MoeActivation.Silu : MoeActivation.Relu2,
            QuantMode: nvfp4 ? MoeQuantMode.Nvfp4 : MoeQuantMode.W4A16,
            SourceFormat: !nvfp4 && random.Next(10) < 3 ? MoeSourceFormat.CompressedTensors : MoeSourceFormat.ModelOpt,
            Layout: random.Next(10) < 6 ? ScaleLayout.Swizzled128x4 : ScaleLayout.Linear,
            WithInputGlobalScale: random.Next(10) < 7,
            Scalars: (ScalarShape)random.Next(3),
            Ids64: random.Next(2) == 0,
            LocalExperts: local,
            LocalOffset: offset,
            InvalidIdRate: 0,
            Seed: random.Next());
        MoeCaseData generated = MoeCaseGenerator.Create(spec);
        MoeCaseData data = generated.With(
            ids: Ids(random, tokens, topK, experts, spec.Ids64),
            x: random.Next(4) == 0 ? WithNonFiniteRows(random, generated.X, tokens, hidden) : generated.X,
            routing: random.Next(5) == 0 ? WithUnusualWeights(random, generated.RoutingWeights) : generated.RoutingWeights);

        return new RandomMoeCase(
            data,
            ScaleForm: (SwizzledScaleForm)random.Next(4),
            Float8Scales: random.Next(10) < 3,
            OutputBuffer: random.Next(10) < 3,
            Threads: random.Next(3) == 0 ? null : random.Next(1, 5),
            Strategy: (KernelStrategy)random.Next(4),
            MisalignedBy: random.Next(4) == 0 ? random.Next(1, 8) : 0);
    }

    /// <summary>The call's tensors (in the caller's dispose scope), on the CPU.</summary>
    public MoeTensors Tensors()
    {
        MoeTensors t = MoeTensors.From(Data, Float8Scales);
        if (Data.Layout == ScaleLayout.Swizzled128x4)
        {
            t = t with
            {
                W1WeightSf = Reshape(t.W1WeightSf, ScaleForm),
                W2WeightSf = Reshape(t.W2WeightSf, ScaleForm),
            };
        }
        Tensor? output = OutputBuffer
            ? full(new long[] { Data.Tokens, Data.Hidden }, float.NaN, ScalarType.BFloat16)
            : null;
        t = t with { Options = t.Options with { Output = output, CpuThreads = Threads, Strategy = Strategy } };
        return MisalignedBy == 0 ? t : Misaligned(t, MisalignedBy);
    }

    /// <summary>
    /// Every contiguous argument moved into a larger buffer at an offset of <paramref name="elements"/> elements, so
    /// data pointers lose the allocator's alignment (a contiguous view is as valid an argument as a fresh tensor).
    /// </summary>
    public static MoeTensors Misaligned(MoeTensors t, int elements)
    {
        Tensor Shift(Tensor tensor)
        {
            if (!tensor.is_contiguous())
            {
                return tensor;
            }
            Tensor view = empty(tensor.numel() + elements, tensor.dtype).narrow(0, elements, tensor.numel()).view(tensor.shape);
            view.copy_(tensor);
            return view;
        }
        FusedMoeOptions o = t.Options;
        return new MoeTensors(
            Shift(t.X), Shift(t.W1Weight), Shift(t.W1WeightSf), Shift(t.W2Weight), Shift(t.W2WeightSf),
            Shift(t.TokenSelectedExperts), Shift(t.TokenFinalScales), t.NumExperts, t.TopK, Shift(t.W1Alpha), Shift(t.W2Alpha),
            o with
            {
                Fc2InputScale = o.Fc2InputScale is null ? null : Shift(o.Fc2InputScale),
                InputGlobalScale = o.InputGlobalScale is null ? null : Shift(o.InputGlobalScale),
                Output = o.Output is null ? null : Shift(o.Output),
            });
    }

    public override string ToString() =>
        $"{Data} scales:{(Data.Layout == ScaleLayout.Linear ? "linear" : ScaleForm.ToString())}{(Float8Scales ? "/f8" : "/u8")} " +
        $"out:{(OutputBuffer ? "given" : "new")} threads:{Threads?.ToString() ?? "all"} {Strategy} misaligned by {MisalignedBy} " +
        $"ids:[{string.Join(",", Data.Ids.Take(12))}{(Data.Ids.Length > 12 ? ",…" : "")}]";

    /// <summary>The 6-D view of swizzled storage [E, Np, Cbp]: storage order [e][c][f][a][b][d], view [a, b, c, d, f, e].</summary>
    public static Tensor ToView(Tensor storage)
    {
        long experts = storage.shape[0], paddedRows = storage.shape[1], paddedBlocks = storage.shape[2];
        return storage.reshape(experts, paddedRows / 128, paddedBlocks / 4, 32, 4, 4).permute(3, 4, 1, 5, 2, 0);
    }

    private static Tensor Reshape(Tensor storage, SwizzledScaleForm form) => form switch
    {
        SwizzledScaleForm.Flat => storage.flatten(),
        SwizzledScaleForm.View => ToView(storage),
        SwizzledScaleForm.ViewCopy => ToView(storage).contiguous(),
        _ => storage,
    };

    private static T Pick<T>(Random random, IReadOnlyList<T> values) => values[random.Next(values.Count)];

    /// <summary>Each route: a uniformly drawn expert (60 %), the previous route's id again (10 %), or an invalid id (30 %).</summary>
    private static long[] Ids(Random random, int tokens, int topK, int experts, bool ids64)
    {
        long[] invalid32 = [-1, -2, experts, experts + 1, experts + 1000, int.MinValue, int.MaxValue];
        long[] invalid64 =
        [
            .. invalid32, long.MinValue, long.MaxValue, 1L << 31, -(1L << 31) - 1, 1L << 32, (1L << 32) + experts - 1, -(1L << 32),
        ];
        var ids = new long[tokens * topK];
        for (int i = 0; i < ids.Length; i++)
        {
            int roll = random.Next(10);
            if (roll < 6 || (roll == 6 && i % topK == 0))
            {
                ids[i] = random.Next(experts);
            }
            else if (roll == 6)
            {
                ids[i] = ids[i - 1];
            }
            else
            {
                long[] pool = ids64 ? invalid64 : invalid32;
                ids[i] = pool[random.Next(pool.Length)];
                if (ids64 && random.Next(4) == 0)
                {
                    // A valid id plus a multiple of 2^32: truncating it to 32 bits would make it valid again.
                    ids[i] = random.Next(experts) + ((long)random.Next(1, 1 << 20) << 32) * (random.Next(2) == 0 ? 1 : -1);
                }
            }
        }
        return ids;
    }

    /// <summary>Some rows get NaN (quiet, signalling-looking, negative) or ±Inf at a few places.</summary>
    private static ushort[] WithNonFiniteRows(Random random, ushort[] x, int tokens, int hidden)
    {
        ushort[] specials = [0x7FC0, 0xFFC0, 0x7F81, 0x7F80, 0xFF80];
        var result = (ushort[])x.Clone();
        for (int t = 0; t < tokens; t++)
        {
            if (random.Next(3) != 0)
            {
                continue;
            }
            int count = random.Next(1, 4);
            for (int j = 0; j < count; j++)
            {
                result[t * hidden + random.Next(hidden)] = specials[random.Next(specials.Length)];
            }
        }
        return result;
    }

    /// <summary>Routing weights are used as given: some become zero, negative, tiny or large.</summary>
    private static float[] WithUnusualWeights(Random random, float[] weights)
    {
        float[] unusual = [0f, -0f, -0.5f, -1f, 1e-30f, 3e4f, 1f];
        var result = (float[])weights.Clone();
        for (int i = 0; i < result.Length; i++)
        {
            if (random.Next(3) == 0)
            {
                result[i] = unusual[random.Next(unusual.Length)];
            }
        }
        return result;
    }
}
