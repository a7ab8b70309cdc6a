using System;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Backends;

/// <summary>Every contract violation of a call is an ArgumentException (or subclass) naming the parameter.</summary>
[TestClass]
public sealed class MoeProblemValidationTests
{
    private static MoeCaseData Data(MoeQuantMode mode = MoeQuantMode.Nvfp4, ScaleLayout layout = ScaleLayout.Swizzled128x4) =>
        MoeCaseGenerator.Create(new MoeCaseSpec(
            Tokens: 3, Hidden: 32, Intermediate: 16, Experts: 3, TopK: 2, QuantMode: mode, Layout: layout, Seed: 21));

    private static void Rejects(string parameter, Func<MoeTensors, MoeTensors> mutate, MoeCaseData? data = null)
    {
        using var scope = NewDisposeScope();
        MoeTensors valid = MoeTensors.From(data ?? Data());
        MoeTensors bad = mutate(valid);
        var error = Assert.Throws<ArgumentException>(() => bad.Call());
        Assert.AreEqual(parameter, error.ParamName, error.Message);
    }

    private static Tensor NonContiguous(Tensor t) => t.dim() == 2
        ? t.t().contiguous().t()
        : t.transpose(0, 1).contiguous().transpose(0, 1);

    [TestMethod]
    public void AValidCallRuns()
    {
        using var scope = NewDisposeScope();
        Tensor output = MoeTensors.From(Data()).Call();
        CollectionAssert.AreEqual(new long[] { 3, 32 }, output.shape);
    }

    [TestMethod]
    public void XOfTheWrongDtype() => Rejects("x", t => t with { X = t.X.to(ScalarType.Float32) });

    [TestMethod]
    public void XOfTheWrongRank() => Rejects("x", t => t with { X = t.X.unsqueeze(0) });

    [TestMethod]
    public void XNotContiguous() => Rejects("x", t => t with { X = NonContiguous(t.X) });

    [TestMethod]
    public void HiddenSizeNotAMultipleOf16() => Rejects("x", t => t with { X = zeros(new long[] { 3, 24 }, ScalarType.BFloat16) });

    [TestMethod]
    public void XClaimingMoreThanInt32MaxTokensWithoutElementsIsRejected() =>
        Rejects("x", t => t with { X = empty(new long[] { 1L << 31, 0 }, ScalarType.BFloat16) });

    [TestMethod]
    public void XClaimingAHiddenSizeAboveInt32MaxWithoutElementsIsRejected() =>
        Rejects("x", t => t with { X = empty(new long[] { 0, (1L << 31) + 16 }, ScalarType.BFloat16) });

    [TestMethod]
    public void W1ExpandedToMoreThanInt32MaxRowsIsRejected() =>
        Rejects("w1Weight", t => t with { W1Weight = zeros(new long[] { 1, 1, 1 }, ScalarType.Byte).expand(3, 1L << 32, 16) });

    [TestMethod]
    public void W1OfTheWrongDtype() => Rejects("w1Weight", t => t with { W1Weight = t.W1Weight.to(ScalarType.Int8) });

    [TestMethod]
    public void W1OfTheWrongRank() => Rejects("w1Weight", t => t with { W1Weight = t.W1Weight.flatten(0, 1) });

    [TestMethod]
    public void W1OfTheWrongShape() => Rejects("w1Weight", t => t with { W1Weight = t.W1Weight[.., .., ..8].contiguous() });

    [TestMethod]
    public void W1WithAnOddRowCountForSilu() => Rejects("w1Weight", t => t with { W1Weight = t.W1Weight[.., ..31, ..].contiguous() });

    [TestMethod]
    public void W1NotContiguous() => Rejects("w1Weight", t => t with { W1Weight = NonContiguous(t.W1Weight) });

    [TestMethod]
    public void W2OfTheWrongShape() => Rejects("w2Weight", t => t with { W2Weight = t.W2Weight[..2].contiguous() });

    [TestMethod]
    public void W2OfTheWrongDtype() => Rejects("w2Weight", t => t with { W2Weight = t.W2Weight.to(ScalarType.Int32) });

    [TestMethod]
    public void W1ScalesOfTheWrongDtype() => Rejects("w1WeightSf", t => t with { W1WeightSf = t.W1WeightSf.to(ScalarType.Float32) });

    [TestMethod]
    public void SwizzledW1ScalesOfTheWrongSize() => Rejects("w1WeightSf", t => t with { W1WeightSf = t.W1WeightSf.flatten()[1..].contiguous() });

    [TestMethod]
    public void SwizzledW2ScalesNotContiguous() => Rejects("w2WeightSf", t => t with { W2WeightSf = NonContiguous(t.W2WeightSf) });

    [TestMethod]
    public void LinearScalesOfTheSwizzledShape()
    {
        // Linear [3, 32, 2] vs swizzled storage: the layout comes from the option, never from the shape.
        MoeCaseData linear = Data(layout: ScaleLayout.Linear);
        Rejects("w1WeightSf", t => t with { W1WeightSf = zeros(new long[] { 3, 128, 4 }, ScalarType.Byte) }, linear);
    }

    [TestMethod]
    public void IdsOfTheWrongDtype() => Rejects("tokenSelectedExperts", t => t with { TokenSelectedExperts = t.TokenSelectedExperts.to(ScalarType.Float32) });

    [TestMethod]
    public void TopKDifferentFromTheIdsColumns() => Rejects("tokenSelectedExperts", t => t with { TopK = 3 });

    [TestMethod]
    public void TokenCountOfIdsDifferentFromX() => Rejects("tokenSelectedExperts", t => t with { TokenSelectedExperts = t.TokenSelectedExperts[..2].contiguous() });

    [TestMethod]
    public void IdsNotContiguous() => Rejects("tokenSelectedExperts", t => t with { TokenSelectedExperts = NonContiguous(t.TokenSelectedExperts) });

    [TestMethod]
    public void RoutingWeightsOfTheWrongDtype() => Rejects("tokenFinalScales", t => t with { TokenFinalScales = t.TokenFinalScales.to(ScalarType.BFloat16) });

    [TestMethod]
    public void RoutingWeightsOfTheWrongShape() => Rejects("tokenFinalScales", t => t with { TokenFinalScales = t.TokenFinalScales[.., ..1].contiguous() });

    [TestMethod]
    public void NumExpertsBelowOne() => Rejects("numExperts", t => t with { NumExperts = 0 });

    [TestMethod]
    public void TopKBelowOne() => Rejects("topK", t => t with { TopK = 0 });

    [TestMethod]
    public void MoreLocalExpertsThanExperts() => Rejects("NumLocalExperts", t => t with { Options = t.Options with { NumLocalExperts = 4 } });

    [TestMethod]
    public void LocalRangePastTheLastExpert() =>
        Rejects("LocalExpertOffset", t => t with { Options = t.Options with { NumLocalExperts = 3, LocalExpertOffset = 1 } });

    [TestMethod]
    public void NegativeLocalExpertOffset() => Rejects("LocalExpertOffset", t => t with { Options = t.Options with { LocalExpertOffset = -1 } });

    [TestMethod]
    public void OutputOfTheWrongShape() =>
        Rejects("Output", t => t with { Options = t.Options with { Output = zeros(new long[] { 3, 16 }, ScalarType.BFloat16) } });

    [TestMethod]
    public void OutputOfTheWrongDtype() =>
        Rejects("Output", t => t with { Options = t.Options with { Output = zeros(new long[] { 3, 32 }, ScalarType.Float32) } });

    [TestMethod]
    public void OutputThatIsX() => Rejects("Output", t => t with { Options = t.Options with { Output = t.X } });

    [TestMethod]
    public void OutputOverlappingX()
    {
        using var scope = NewDisposeScope();
        Tensor buffer = zeros(new long[] { 4, 32 }, ScalarType.BFloat16);
        Rejects("Output", t => t with { X = buffer[..3], Options = t.Options with { Output = buffer[1..] } });
    }

    [TestMethod]
    public void MissingFc2InputScaleInNvfp4() => Rejects("Fc2InputScale", t => t with { Options = t.Options with { Fc2InputScale = null } });

    [TestMethod]
    public void CompressedTensorsWithNvfp4() =>
        Rejects("SourceFormat", t => t with { Options = t.Options with { SourceFormat = MoeSourceFormat.CompressedTensors } });

    [TestMethod]
    [DataRow(float.NaN)]
    [DataRow(float.PositiveInfinity)]
    [DataRow(0f)]
    [DataRow(-1f)]
    public void HostW1AlphaThatIsNotFiniteAndPositive(float value) => Rejects("w1Alpha", t => t with { W1Alpha = tensor(new[] { 1f, value, 1f }) });

    [TestMethod]
    [DataRow(float.NaN)]
    [DataRow(0f)]
    public void HostW2AlphaThatIsNotFiniteAndPositive(float value) => Rejects("w2Alpha", t => t with { W2Alpha = tensor(new[] { value }) });

    [TestMethod]
    public void HostFc2InputScaleThatIsZero() => Rejects("Fc2InputScale", t => t with { Options = t.Options with { Fc2InputScale = tensor(new[] { 0f }) } });

    [TestMethod]
    public void HostInputGlobalScaleThatIsNegative() =>
        Rejects("InputGlobalScale", t => t with { Options = t.Options with { InputGlobalScale = tensor(new[] { -0.5f }) } });

    [TestMethod]
    public void CompressedTensorsAlphaWhoseReciprocalOverflows() => Rejects(
        "w1Alpha",
        t => t with { W1Alpha = tensor(new[] { 1e-39f }) },
        MoeCaseGenerator.Create(new MoeCaseSpec(Tokens: 3, Hidden: 32, Intermediate: 16, Experts: 3, TopK: 2,
            QuantMode: MoeQuantMode.W4A16, SourceFormat: MoeSourceFormat.CompressedTensors, Seed: 22)));

    [TestMethod]
    public void AlphaOfALengthThatIsNeitherOneNorExperts() => Rejects("w1Alpha", t => t with { W1Alpha = tensor(new[] { 1f, 1f }) });

    [TestMethod]
    public void AlphaOfTheWrongDtype() => Rejects("w2Alpha", t => t with { W2Alpha = tensor(new[] { 1.0 }) });

    [TestMethod]
    public void OutputDtypeOtherThanBFloat16() => Rejects("OutputDtype", t => t with { Options = t.Options with { OutputDtype = ScalarType.Float32 } });

    [TestMethod]
    public void CpuThreadsBelowOne() => Rejects("CpuThreads", t => t with { Options = t.Options with { CpuThreads = 0 } });

    [TestMethod]
    public void UnknownActivation() => Rejects("Activation", t => t with { Options = t.Options with { Activation = (MoeActivation)7 } });

    [TestMethod]
    public void UnknownScaleLayout() => Rejects("ScaleLayout", t => t with { Options = t.Options with { ScaleLayout = (ScaleLayout)9 } });

    [TestMethod]
    [DataRow("Activation", DisplayName = "Activation")]
    [DataRow("QuantMode", DisplayName = "QuantMode")]
    [DataRow("SourceFormat", DisplayName = "SourceFormat")]
    [DataRow("ScaleLayout", DisplayName = "ScaleLayout")]
    [DataRow("Strategy", DisplayName = "Strategy")]
    [DataRow("Device", DisplayName = "Device")]
    public void UnknownEnumValueIsNamedWithTheAcceptedValuesAndTheActualOne(string option)
    {
        using var scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(Data());
        FusedMoeOptions o = t.Options;
        FusedMoeOptions bad = option switch
        {
            "Activation" => o with { Activation = (MoeActivation)42 },
            "QuantMode" => o with { QuantMode = (MoeQuantMode)42 },
            "SourceFormat" => o with { SourceFormat = (MoeSourceFormat)42 },
            "ScaleLayout" => o with { ScaleLayout = (ScaleLayout)42 },
            "Strategy" => o with { Strategy = (KernelStrategy)42 },
            _ => o with { Device = (ComputeDevice)42 },
        };
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => (t with { Options = bad }).Call());
        Assert.AreEqual(option, error.ParamName);
        Assert.StartsWith($"{option} must be one of ", error.Message);
        Assert.Contains("got 42", error.Message);
    }

    [TestMethod]
    [DataRow("MicroMaxTokens")]
    [DataRow("MicroMaxPairs")]
    [DataRow("StaticMaxPairs")]
    public void NegativeStrategyThresholdIsNamedItself(string option) => Rejects(option, t => t with
    {
        Options = option switch
        {
            "MicroMaxTokens" => t.Options with { MicroMaxTokens = -1 },
            "MicroMaxPairs" => t.Options with { MicroMaxPairs = -1 },
            _ => t.Options with { StaticMaxPairs = -1 },
        },
    });
}
