using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Properties;

/// <summary>
/// Every invalid <see cref="B12xOps.FusedMoe"/> call raises ArgumentException (or a subclass) whose ParamName is the
/// broken parameter and whose message names it (api.md, "Exceptions"), for random valid calls broken in one random way
/// (<see cref="InvalidCall"/>).
/// </summary>
[TestClass]
public sealed class FusedMoeInvalidCallPropertyTests
{
    /// <summary>CI cases: each of the 24 mutation kinds about 40 times; about a second.</summary>
    private const int Cases = 1000;

    private const int Seed = 20270116;

    private static readonly int[] s_sizes = [16, 32, 48, 64, 144];

    /// <summary>Every parameter and option the contract checks; the CI run must name each at least once.</summary>
    private static readonly string[] s_parameters =
    [
        "x", "w1Weight", "w1WeightSf", "w2Weight", "w2WeightSf", "tokenSelectedExperts", "tokenFinalScales", "numExperts", "topK",
        "w1Alpha", "w2Alpha", "Fc2InputScale", "InputGlobalScale", "NumLocalExperts", "LocalExpertOffset", "Output", "OutputDtype",
        "Activation", "QuantMode", "SourceFormat", "ScaleLayout", "Strategy", "Device", "CpuThreads", "MicroMaxTokens",
        "MicroMaxPairs", "StaticMaxPairs",
    ];

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void EveryInvalidCallRaisesAnArgumentExceptionNamingTheParameter()
    {
        PropertyRun run = PropertyRun.Start(TestContext, nameof(EveryInvalidCallRaisesAnArgumentExceptionNamingTheParameter), Cases, Seed);
        var seen = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < run.Cases; i++)
        {
            var random = new Random(run.CaseSeed(i));
            MoeCaseData data = ValidCall(random);
            using var scope = NewDisposeScope();
            InvalidCall call = InvalidCall.Create(MoeTensors.From(data), data, random);
            string context = $"{run.Describe(i)}: {call.What} in {data}";
            seen[call.Parameter] = seen.GetValueOrDefault(call.Parameter) + 1;

            ArgumentException error = Assert.Throws<ArgumentException>(() => call.Tensors.Call(), context);

            Assert.AreEqual(call.Parameter, error.ParamName, $"{context}: {error.Message}");
            string text = error.Message.Split(" (Parameter '")[0];
            Assert.IsTrue(Regex.IsMatch(text, $@"\b{Regex.Escape(call.Parameter)}\b"), $"{context}: the message does not name {call.Parameter}: {error.Message}");
        }
        TestContext.WriteLine("parameters named: " + string.Join(", ", seen.Select(p => $"{p.Key} {p.Value}")));
        if (run.Cases >= Cases)
        {
            CollectionAssert.AreEquivalent(s_parameters, seen.Keys.ToArray(), "the parameters the CI run broke");
        }
    }

    [TestMethod]
    [RequiresCuda]
    public void ATensorOnAnotherDeviceThanXIsRejectedNamingIt()
    {
        var random = new Random(Seed);
        for (int i = 0; i < 8; i++)
        {
            MoeCaseData data = ValidCall(random);
            using var scope = NewDisposeScope();
            MoeTensors host = MoeTensors.From(data);
            MoeTensors gpu = CudaTestEnvironment.OnCuda(host);
            foreach (string name in InvalidCall.TensorParameters(data).Where(n => n != "x"))
            {
                // One tensor on the GPU among host tensors, and one host tensor among GPU tensors.
                MoeTensors[] calls =
                [
                    InvalidCall.Set(host, name, InvalidCall.Get(gpu, name)),
                    InvalidCall.Set(gpu, name, InvalidCall.Get(host, name)),
                ];
                foreach (MoeTensors call in calls)
                {
                    ArgumentException error = Assert.Throws<ArgumentException>(() => call.Call(), $"{name} on {InvalidCall.Get(call, name).device}, x on {call.X.device}: {data}");
                    Assert.AreEqual(name, error.ParamName, error.Message);
                }
            }
            Tensor gpuOutput = zeros(new long[] { data.Tokens, data.Hidden }, ScalarType.BFloat16, gpu.X.device);
            ArgumentException outputError = Assert.Throws<ArgumentException>(() => (host with { Options = host.Options with { Output = gpuOutput } }).Call());
            Assert.AreEqual("Output", outputError.ParamName, outputError.Message);
        }
    }

    /// <summary>A small valid call with T ≥ 2 and E ≥ 2 (so that every mutation kind has something to break), any modes.</summary>
    private static MoeCaseData ValidCall(Random random)
    {
        int experts = random.Next(2, 10);
        int? local = random.Next(3) == 0 ? random.Next(1, experts + 1) : null;
        bool nvfp4 = random.Next(2) == 0;
        return MoeCaseGenerator.Create(new MoeCaseSpec(
            Tokens: random.Next(2, 6),
            Hidden: s_sizes[random.Next(s_sizes.Length)],
            Intermediate: s_sizes[random.Next(s_sizes.Length)],
            Experts: experts,
            TopK: random.Next(1, Math.Min(experts, 4) + 1),
            Activation: random.Next(2) == 0 ? MoeActivation.Silu : MoeActivation.Relu2,
            QuantMode: nvfp4 ? MoeQuantMode.Nvfp4 : MoeQuantMode.W4A16,
            SourceFormat: !nvfp4 && random.Next(3) == 0 ? MoeSourceFormat.CompressedTensors : MoeSourceFormat.ModelOpt,
            Layout: random.Next(2) == 0 ? ScaleLayout.Swizzled128x4 : ScaleLayout.Linear,
            WithInputGlobalScale: random.Next(3) != 0,
            Scalars: (ScalarShape)random.Next(3),
            Ids64: random.Next(2) == 0,
            LocalExperts: local,
            LocalOffset: local is null ? 0 : random.Next(0, experts - local.Value + 1),
            Seed: random.Next()));
    }
}
