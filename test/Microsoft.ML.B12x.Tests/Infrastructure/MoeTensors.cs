using System;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>
/// The arguments of one <see cref="B12xOps.FusedMoe"/> call as tensors, built from a <see cref="MoeCaseData"/>;
/// validation tests replace one argument at a time with a <c>with</c> expression.
/// </summary>
internal sealed record MoeTensors(
    Tensor X, Tensor W1Weight, Tensor W1WeightSf, Tensor W2Weight, Tensor W2WeightSf,
    Tensor TokenSelectedExperts, Tensor TokenFinalScales, int NumExperts, int TopK,
    Tensor W1Alpha, Tensor W2Alpha, FusedMoeOptions Options)
{
    /// <summary>float8_e4m3fn, which TorchSharp's enum does not name.</summary>
    public const ScalarType Float8E4M3 = (ScalarType)24;

    /// <summary>Builds the tensors (in the caller's dispose scope).</summary>
    public static MoeTensors From(MoeCaseData c, bool float8Scales = false)
    {
        int w1Blocks = c.Hidden / 16, w2Blocks = c.Intermediate / 16;
        Tensor w1Sf, w2Sf;
        ScalarType scaleType = float8Scales ? Float8E4M3 : ScalarType.Byte;
        if (c.Layout == ScaleLayout.Linear)
        {
            w1Sf = Bytes(c.W1Scales, scaleType, c.LocalExperts, c.W1Rows, w1Blocks);
            w2Sf = Bytes(c.W2Scales, scaleType, c.LocalExperts, c.Hidden, w2Blocks);
        }
        else
        {
            w1Sf = Bytes(ReferenceSwizzle.FromLinear(c.W1Scales, c.LocalExperts, c.W1Rows, w1Blocks), scaleType,
                c.LocalExperts, Padded(c.W1Rows, 128), Padded(w1Blocks, 4));
            w2Sf = Bytes(ReferenceSwizzle.FromLinear(c.W2Scales, c.LocalExperts, c.Hidden, w2Blocks), scaleType,
                c.LocalExperts, Padded(c.Hidden, 128), Padded(w2Blocks, 4));
        }
        Tensor x = empty(new long[] { c.Tokens, c.Hidden }, ScalarType.BFloat16);
        c.X.AsSpan().CopyTo(TensorPointers.HostSpanMutable<ushort>(x));
        Tensor ids = c.Ids64
            ? tensor(c.Ids, new long[] { c.Tokens, c.TopK })
            : tensor(Array.ConvertAll(c.Ids, id => checked((int)id)), new long[] { c.Tokens, c.TopK });
        var options = new FusedMoeOptions
        {
            Activation = c.Activation,
            QuantMode = c.QuantMode,
            SourceFormat = c.SourceFormat,
            ScaleLayout = c.Layout,
            NumLocalExperts = c.LocalExperts,
            LocalExpertOffset = c.LocalOffset,
            Fc2InputScale = c.Fc2InputScale is null ? null : tensor(c.Fc2InputScale),
            InputGlobalScale = c.InputGlobalScale is null ? null : tensor(c.InputGlobalScale),
            Device = ComputeDevice.Cpu,
        };
        return new MoeTensors(
            x,
            Bytes(c.W1Codes, ScalarType.Byte, c.LocalExperts, c.W1Rows, c.Hidden / 2), w1Sf,
            Bytes(c.W2Codes, ScalarType.Byte, c.LocalExperts, c.Hidden, c.Intermediate / 2), w2Sf,
            ids, tensor(c.RoutingWeights, new long[] { c.Tokens, c.TopK }), c.NumExperts, c.TopK,
            tensor(c.W1Alpha), tensor(c.W2Alpha), options);
    }

    /// <summary>Calls the public entry point.</summary>
    public Tensor Call() => B12xOps.FusedMoe(
        X, W1Weight, W1WeightSf, W2Weight, W2WeightSf, TokenSelectedExperts, TokenFinalScales, NumExperts, TopK,
        W1Alpha, W2Alpha, Options);

    /// <summary>bfloat16 bits of a [T, H] output.</summary>
    public static ushort[] Bits(Tensor output) => TensorPointers.HostSpan<ushort>(output.contiguous()).ToArray();

    private static int Padded(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    private static Tensor Bytes(byte[] bytes, ScalarType type, params long[] shape)
    {
        Tensor t = empty(shape, type);
        bytes.AsSpan().CopyTo(TensorPointers.HostSpanMutable<byte>(t));
        return t;
    }
}
