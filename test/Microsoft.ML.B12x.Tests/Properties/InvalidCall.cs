using System;
using System.Collections.Generic;
using Microsoft.ML.B12x.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Properties;

/// <summary>
/// A valid call with exactly one thing broken on purpose, and the parameter the contract says the error must name
/// (semantics.md, "Shape rules and errors"): wrong dtype, rank or shape, a non-contiguous, disposed or missing tensor,
/// sizes that claim more than int range without holding memory, mismatched T or K, per-expert scalars of the wrong
/// length or with non-finite or non-positive values, a bad output buffer, and options out of range or contradicting
/// the tensors. Built in the caller's dispose scope.
/// </summary>
internal sealed record InvalidCall(MoeTensors Tensors, string Parameter, string What)
{
    /// <summary>The number of kinds of mutation <see cref="Create"/> chooses from.</summary>
    public const int Kinds = 24;

    private static readonly ScalarType[] s_notBFloat16 = [ScalarType.Float32, ScalarType.Float16, ScalarType.Float64, ScalarType.Int16, ScalarType.Byte];
    private static readonly ScalarType[] s_notByte = [ScalarType.Int8, ScalarType.Int16, ScalarType.Float32, ScalarType.Bool, MoeTensors.Float8E4M3];
    private static readonly ScalarType[] s_notScaleBytes = [ScalarType.Int8, ScalarType.Int16, ScalarType.Float32, ScalarType.BFloat16];
    private static readonly ScalarType[] s_notIds = [ScalarType.Float32, ScalarType.Int16, ScalarType.Byte, ScalarType.Int8, ScalarType.Float64];
    private static readonly ScalarType[] s_notFloat32 = [ScalarType.Float64, ScalarType.BFloat16, ScalarType.Float16, ScalarType.Int32];
    private static readonly float[] s_badScalars = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, -1f, -1e-30f];

    /// <summary>A random single mutation of the valid call <paramref name="t"/> (whose data is <paramref name="d"/>).</summary>
    public static InvalidCall Create(MoeTensors t, MoeCaseData d, Random random)
    {
        while (true)
        {
            InvalidCall? call = TryCreate(t, d, random, random.Next(Kinds));
            if (call is not null)
            {
                return call;
            }
        }
    }

    /// <summary>Mutation <paramref name="kind"/>, or null when it does not apply to this call.</summary>
    private static InvalidCall? TryCreate(MoeTensors t, MoeCaseData d, Random random, int kind)
    {
        string tensor = Pick(random, TensorParameters(d));
        FusedMoeOptions o = t.Options;
        int local = d.LocalExperts, experts = d.NumExperts;
        switch (kind)
        {
            case 0:
                return tensor is "Fc2InputScale" or "InputGlobalScale"
                    ? null // null is how these options are left out; a missing Fc2InputScale is kind 14
                    : new(Set(t, tensor, null!), tensor, "null tensor");
            case 1:
                Tensor disposed = Get(t, tensor).clone();
                disposed.Dispose();
                return new(Set(t, tensor, disposed), tensor, "disposed tensor");
            case 2:
                ScalarType wrong = Pick(random, WrongDtypes(tensor));
                return new(Set(t, tensor, Get(t, tensor).to(wrong)), tensor, $"dtype {wrong}");
            case 3:
                Tensor original = Get(t, tensor);
                return original.numel() < 2 ? null : new(Set(t, tensor, NonContiguous(original)), tensor, "non-contiguous");
            case 4:
                return WrongRank(t, d, tensor, random);
            case 5:
                int hidden = d.Hidden + random.Next(1, 16);
                return new(t with { X = zeros(new long[] { d.Tokens, hidden }, ScalarType.BFloat16) }, "x", $"H = {hidden}");
            case 6:
                int otherHidden = d.Hidden + 16 * random.Next(1, 4);
                return new(t with { X = zeros(new long[] { d.Tokens, otherHidden }, ScalarType.BFloat16) }, "w1Weight", $"x of H = {otherHidden}, weights of H = {d.Hidden}");
            case 7:
                int tokens = OtherThan(random, d.Tokens, 0, d.Tokens + 4);
                return new(t with { X = zeros(new long[] { tokens, d.Hidden }, ScalarType.BFloat16) }, "tokenSelectedExperts", $"x of T = {tokens}");
            case 8:
                return HugeEmpty(t, d, random);
            case 9:
                return random.Next(3) switch
                {
                    0 => new(t with { NumExperts = -random.Next(0, 3) }, "numExperts", "numExperts ≤ 0"),
                    1 => local < 2 ? null : new(t with { NumExperts = random.Next(1, local) }, "NumLocalExperts", "numExperts below NumLocalExperts"),
                    _ => d.LocalOffset == 0 ? null : new(t with { NumExperts = d.LocalOffset + local - 1 }, "LocalExpertOffset", "numExperts below offset + L"),
                };
            case 10:
                return random.Next(2) == 0
                    ? new(t with { TopK = -random.Next(0, 3) }, "topK", "topK ≤ 0")
                    : new(t with { TopK = OtherThan(random, d.TopK, 1, d.TopK + 3) }, "tokenSelectedExperts", "topK ≠ ids.shape[1]");
            case 11:
                return random.Next(4) switch
                {
                    0 => new(t with { Options = o with { NumLocalExperts = -random.Next(0, 2) } }, "NumLocalExperts", "L ≤ 0"),
                    1 => new(t with { Options = o with { NumLocalExperts = experts + random.Next(1, 3) } }, "NumLocalExperts", "L > E"),
                    2 => new(t with { Options = o with { LocalExpertOffset = -random.Next(1, 3) } }, "LocalExpertOffset", "negative offset"),
                    _ => new(t with { Options = o with { LocalExpertOffset = experts - local + random.Next(1, 3) } }, "LocalExpertOffset", "offset + L > E"),
                };
            case 12:
                int bad = Pick(random, new[] { -1, 7, 42, int.MaxValue, int.MinValue });
                return random.Next(6) switch
                {
                    0 => new(t with { Options = o with { Activation = (MoeActivation)bad } }, "Activation", $"Activation {bad}"),
                    1 => new(t with { Options = o with { QuantMode = (MoeQuantMode)bad } }, "QuantMode", $"QuantMode {bad}"),
                    2 => new(t with { Options = o with { SourceFormat = (MoeSourceFormat)bad } }, "SourceFormat", $"SourceFormat {bad}"),
                    3 => new(t with { Options = o with { ScaleLayout = (ScaleLayout)bad } }, "ScaleLayout", $"ScaleLayout {bad}"),
                    4 => new(t with { Options = o with { Strategy = (KernelStrategy)bad } }, "Strategy", $"Strategy {bad}"),
                    _ => new(t with { Options = o with { Device = (ComputeDevice)bad } }, "Device", $"Device {bad}"),
                };
            case 13:
                return random.Next(5) switch
                {
                    0 => new(t with { Options = o with { OutputDtype = Pick(random, s_notBFloat16) } }, "OutputDtype", "OutputDtype"),
                    1 => new(t with { Options = o with { CpuThreads = -random.Next(0, 3) } }, "CpuThreads", "CpuThreads ≤ 0"),
                    2 => new(t with { Options = o with { MicroMaxTokens = -random.Next(1, 9) } }, "MicroMaxTokens", "negative threshold"),
                    3 => new(t with { Options = o with { MicroMaxPairs = -random.Next(1, 9) } }, "MicroMaxPairs", "negative threshold"),
                    _ => new(t with { Options = o with { StaticMaxPairs = -random.Next(1, 9) } }, "StaticMaxPairs", "negative threshold"),
                };
            case 14:
                return d.Nvfp4
                    ? new(t with { Options = o with { Fc2InputScale = null } }, "Fc2InputScale", "NVFP4 without Fc2InputScale")
                    : d.CompressedTensors
                        ? new(t with { Options = o with { QuantMode = MoeQuantMode.Nvfp4 } }, "SourceFormat", "compressed_tensors with NVFP4")
                        : new(t with { Options = o with { QuantMode = MoeQuantMode.Nvfp4 } }, "Fc2InputScale", "W4A16 call switched to NVFP4");
            case 15:
                return d.Nvfp4 ? new(t with { Options = o with { SourceFormat = MoeSourceFormat.CompressedTensors } }, "SourceFormat", "compressed_tensors with NVFP4") : null;
            case 16:
                return FlippedActivation(t, d);
            case 17:
                return FlippedLayout(t, d);
            case 18:
                return WrongWeightShape(t, d, random);
            case 19:
                return WrongRoutingShape(t, d, random);
            case 20:
                return WrongScaleShape(t, d, random, random.Next(2) == 0 ? "w1WeightSf" : "w2WeightSf");
            case 21:
                return WrongScalarLength(t, d, random);
            case 22:
                return BadScalarValue(t, d, random);
            default:
                return BadOutput(t, d, random);
        }
    }

    /// <summary>The tensor arguments of a call: the nine tensor parameters and, in NVFP4 mode, its scale options.</summary>
    public static List<string> TensorParameters(MoeCaseData d)
    {
        var names = new List<string> { "x", "w1Weight", "w1WeightSf", "w2Weight", "w2WeightSf", "tokenSelectedExperts", "tokenFinalScales", "w1Alpha", "w2Alpha" };
        if (d.Nvfp4)
        {
            names.Add("Fc2InputScale");
            if (d.InputGlobalScale is not null)
            {
                names.Add("InputGlobalScale");
            }
        }
        return names;
    }

    /// <summary>The tensor argument named <paramref name="name"/> (a parameter of FusedMoe or a tensor option).</summary>
    public static Tensor Get(MoeTensors t, string name) => name switch
    {
        "x" => t.X,
        "w1Weight" => t.W1Weight,
        "w1WeightSf" => t.W1WeightSf,
        "w2Weight" => t.W2Weight,
        "w2WeightSf" => t.W2WeightSf,
        "tokenSelectedExperts" => t.TokenSelectedExperts,
        "tokenFinalScales" => t.TokenFinalScales,
        "w1Alpha" => t.W1Alpha,
        "w2Alpha" => t.W2Alpha,
        "Fc2InputScale" => t.Options.Fc2InputScale!,
        "InputGlobalScale" => t.Options.InputGlobalScale!,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Not a tensor parameter."),
    };

    /// <summary>The call with the tensor argument <paramref name="name"/> replaced.</summary>
    public static MoeTensors Set(MoeTensors t, string name, Tensor value) => name switch
    {
        "x" => t with { X = value },
        "w1Weight" => t with { W1Weight = value },
        "w1WeightSf" => t with { W1WeightSf = value },
        "w2Weight" => t with { W2Weight = value },
        "w2WeightSf" => t with { W2WeightSf = value },
        "tokenSelectedExperts" => t with { TokenSelectedExperts = value },
        "tokenFinalScales" => t with { TokenFinalScales = value },
        "w1Alpha" => t with { W1Alpha = value },
        "w2Alpha" => t with { W2Alpha = value },
        "Fc2InputScale" => t with { Options = t.Options with { Fc2InputScale = value } },
        "InputGlobalScale" => t with { Options = t.Options with { InputGlobalScale = value } },
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Not a tensor parameter."),
    };

    private static ScalarType[] WrongDtypes(string name) => name switch
    {
        "x" => s_notBFloat16,
        "w1Weight" or "w2Weight" => s_notByte,
        "w1WeightSf" or "w2WeightSf" => s_notScaleBytes,
        "tokenSelectedExperts" => s_notIds,
        _ => s_notFloat32,
    };

    /// <summary>The same shape and values with a doubled innermost stride (non-contiguous for two or more elements).</summary>
    private static Tensor NonContiguous(Tensor t) => stack(new[] { t, t }, -1).select(-1, 0);

    private static InvalidCall? WrongRank(MoeTensors t, MoeCaseData d, string name, Random random)
    {
        Tensor original = Get(t, name);
        if (name is "w1WeightSf" or "w2WeightSf" && d.Layout == ScaleLayout.Swizzled128x4)
        {
            return null; // swizzled storage is accepted in any shape
        }
        Tensor reshaped = random.Next(3) switch
        {
            0 => original.unsqueeze(0),
            1 => original.dim() == 1 ? original.reshape(original.shape[0], 1) : original.flatten(),
            _ => original.dim() == 1 ? original.unsqueeze(1) : original.unsqueeze(-1),
        };
        return new(Set(t, name, reshaped), name, $"rank {reshaped.dim()}");
    }

    private static InvalidCall HugeEmpty(MoeTensors t, MoeCaseData d, Random random)
    {
        long huge = (1L << 31) + 16 * random.Next(0, 1 << 20);
        return random.Next(3) switch
        {
            0 => new(t with { X = empty(new long[] { huge, 0 }, ScalarType.BFloat16) }, "x", $"x [{huge}, 0]"),
            1 => new(t with { X = empty(new long[] { 0, huge }, ScalarType.BFloat16) }, "x", $"x [0, {huge}]"),
            _ => new(t with { W1Weight = zeros(new long[] { 1, 1, 1 }, ScalarType.Byte).expand(d.LocalExperts, 2 * huge, d.Hidden / 2) },
                "w1Weight", $"w1Weight expanded to {2 * huge} rows"),
        };
    }

    /// <summary>silu ↔ relu2 changes the I derived from W1's rows, so W1 or W2 no longer fits.</summary>
    private static InvalidCall FlippedActivation(MoeTensors t, MoeCaseData d)
    {
        FusedMoeOptions o = t.Options;
        if (d.Gated)
        {
            return new(t with { Options = o with { Activation = MoeActivation.Relu2 } }, "w2Weight", "silu weights run as relu2");
        }
        int derived = d.Intermediate / 2;
        return new(t with { Options = o with { Activation = MoeActivation.Silu } }, derived % 16 == 0 ? "w2Weight" : "w1Weight", "relu2 weights run as silu");
    }

    /// <summary>Swizzled ↔ linear, where the two shapes differ (where they coincide the call is valid: the layout is never guessed).</summary>
    private static InvalidCall? FlippedLayout(MoeTensors t, MoeCaseData d)
    {
        ScaleLayout other = d.Layout == ScaleLayout.Linear ? ScaleLayout.Swizzled128x4 : ScaleLayout.Linear;
        bool w1Fits = ShapesCoincide(d.W1Rows, d.Hidden), w2Fits = ShapesCoincide(d.Hidden, d.Intermediate);
        if (w1Fits && w2Fits)
        {
            return null;
        }
        return new(t with { Options = t.Options with { ScaleLayout = other } }, w1Fits ? "w2WeightSf" : "w1WeightSf", $"{d.Layout} scales passed as {other}");
    }

    private static bool ShapesCoincide(int rows, int columns) => rows % 128 == 0 && columns / 16 % 4 == 0;

    private static InvalidCall? WrongWeightShape(MoeTensors t, MoeCaseData d, Random random)
    {
        int local = d.LocalExperts, rows = d.W1Rows, half = d.Hidden / 2;
        switch (random.Next(5))
        {
            case 0:
                int otherLocal = OtherThan(random, local, 0, local + 3);
                return new(t with { W1Weight = zeros(new long[] { otherLocal, rows, half }, ScalarType.Byte) }, "w1Weight", $"E_loc = {otherLocal}");
            case 1:
                int otherHalf = OtherThan(random, half, 0, half + 9);
                return new(t with { W1Weight = zeros(new long[] { local, rows, otherHalf }, ScalarType.Byte) }, "w1Weight", $"H/2 = {otherHalf}");
            case 2:
                if (!d.Gated)
                {
                    return null;
                }
                return new(t with { W1Weight = zeros(new long[] { local, rows - 1 - 2 * random.Next(0, 4), half }, ScalarType.Byte) }, "w1Weight", "odd row count for silu");
            case 3:
                int notMultiple = d.Intermediate + random.Next(1, 16);
                return new(t with { W1Weight = zeros(new long[] { local, (d.Gated ? 2 : 1) * notMultiple, half }, ScalarType.Byte) }, "w1Weight", $"I = {notMultiple}");
            default:
                long[] shape = [local, d.Hidden, d.Intermediate / 2];
                int axis = random.Next(3);
                shape[axis] = OtherThan(random, (int)shape[axis], 0, (int)shape[axis] + 9);
                return new(t with { W2Weight = zeros(shape, ScalarType.Byte) }, "w2Weight", $"w2Weight shape [{string.Join(", ", shape)}]");
        }
    }

    private static InvalidCall WrongRoutingShape(MoeTensors t, MoeCaseData d, Random random)
    {
        bool ids = random.Next(2) == 0;
        long[] shape = [d.Tokens, d.TopK];
        int axis = random.Next(2);
        shape[axis] = OtherThan(random, (int)shape[axis], axis == 0 ? 0 : 1, (int)shape[axis] + 4);
        return ids
            ? new(t with { TokenSelectedExperts = zeros(shape, t.TokenSelectedExperts.dtype) }, "tokenSelectedExperts", $"ids [{shape[0]}, {shape[1]}]")
            : new(t with { TokenFinalScales = ones(shape, ScalarType.Float32) }, "tokenFinalScales", $"weights [{shape[0]}, {shape[1]}]");
    }

    private static InvalidCall WrongScaleShape(MoeTensors t, MoeCaseData d, Random random, string name)
    {
        (int rows, int columns) = name == "w1WeightSf" ? (d.W1Rows, d.Hidden) : (d.Hidden, d.Intermediate);
        if (d.Layout == ScaleLayout.Linear)
        {
            long[] shape = [d.LocalExperts, rows, columns / 16];
            int axis = random.Next(3);
            shape[axis] = OtherThan(random, (int)shape[axis], 0, (int)shape[axis] + 5);
            return new(Set(t, name, zeros(shape, ScalarType.Byte)), name, $"linear scales [{string.Join(", ", shape)}]");
        }
        long bytes = Get(t, name).numel();
        long wrong = Math.Max(0, bytes + (random.Next(2) == 0 ? -1 : 1) * random.Next(1, 600));
        return new(Set(t, name, zeros(new long[] { wrong }, ScalarType.Byte)), name, $"{wrong} swizzled bytes instead of {bytes}");
    }

    private static InvalidCall? WrongScalarLength(MoeTensors t, MoeCaseData d, Random random)
    {
        string name = Pick(random, TensorParameters(d).FindAll(n => n is "w1Alpha" or "w2Alpha" or "Fc2InputScale" or "InputGlobalScale"));
        int length = random.Next(0, d.NumExperts + 4);
        if (length == 1 || length == d.NumExperts || length == d.LocalExperts)
        {
            return null;
        }
        return new(Set(t, name, ones(new long[] { length }, ScalarType.Float32)), name, $"{name} of length {length}");
    }

    private static InvalidCall BadScalarValue(MoeTensors t, MoeCaseData d, Random random)
    {
        string name = Pick(random, TensorParameters(d).FindAll(n => n is "w1Alpha" or "w2Alpha" or "Fc2InputScale" or "InputGlobalScale"));
        Tensor values = Get(t, name).clone();
        int index = random.Next((int)values.shape[0]);
        // compressed_tensors alphas are reciprocals: a subnormal value is finite but its reciprocal is not.
        float value = d.CompressedTensors && name.EndsWith("Alpha", StringComparison.Ordinal) && random.Next(3) == 0
            ? 1e-40f
            : Pick(random, s_badScalars);
        values[index].fill_(value);
        return new(Set(t, name, values), name, $"{name}[{index}] = {value}");
    }

    private static InvalidCall BadOutput(MoeTensors t, MoeCaseData d, Random random)
    {
        const string Name = "Output";
        long[] shape = [d.Tokens, d.Hidden];
        Tensor output;
        string what;
        switch (random.Next(6))
        {
            case 0:
                output = zeros(shape, Pick(random, s_notBFloat16));
                what = $"output dtype {output.dtype}";
                break;
            case 1:
                shape[random.Next(2)] += random.Next(1, 3) * (random.Next(2) == 0 ? 16 : 1);
                output = zeros(shape, ScalarType.BFloat16);
                what = "output of the wrong shape";
                break;
            case 2:
                output = NonContiguous(zeros(shape, ScalarType.BFloat16));
                what = "non-contiguous output";
                break;
            case 3:
                output = zeros(shape, ScalarType.BFloat16);
                output.Dispose();
                what = "disposed output";
                break;
            case 4:
                return new(t with { Options = t.Options with { Output = t.X } }, Name, "output is x");
            default:
                // x and the output one row apart inside one buffer: they share T - 1 rows (T ≥ 2 in these calls).
                Tensor buffer = zeros(new long[] { d.Tokens + 1, d.Hidden }, ScalarType.BFloat16);
                Tensor x = buffer.narrow(0, 0, d.Tokens);
                x.copy_(t.X);
                return new(t with { X = x, Options = t.Options with { Output = buffer.narrow(0, 1, d.Tokens) } }, Name, "output overlapping x");
        }
        return new(t with { Options = t.Options with { Output = output } }, Name, what);
    }

    private static int OtherThan(Random random, int value, int min, int maxExclusive)
    {
        int other;
        do
        {
            other = random.Next(min, Math.Max(maxExclusive, min + 2));
        }
        while (other == value);
        return other;
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> values) => values[random.Next(values.Count)];
}
