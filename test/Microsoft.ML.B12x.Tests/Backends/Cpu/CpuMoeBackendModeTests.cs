using System;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Backends.Cpu;

/// <summary>Mode and dtype rules of the CPU backend that the oracle matrix does not isolate.</summary>
[TestClass]
public sealed class CpuMoeBackendModeTests
{
    [TestMethod]
    public void W4A16IgnoresTheActivationScales()
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(Tokens: 5, Hidden: 48, Intermediate: 32, Experts: 3, TopK: 2, QuantMode: MoeQuantMode.W4A16, Seed: 9));
        ushort[] plain = MoeCaseRunner.Run(data);
        var withScales = new MoeCaseData
        {
            Tokens = data.Tokens, Hidden = data.Hidden, Intermediate = data.Intermediate, NumExperts = data.NumExperts,
            LocalExperts = data.LocalExperts, TopK = data.TopK, Activation = data.Activation, QuantMode = data.QuantMode,
            Layout = data.Layout, X = data.X, Ids = data.Ids, RoutingWeights = data.RoutingWeights,
            W1Codes = data.W1Codes, W1Scales = data.W1Scales, W2Codes = data.W2Codes, W2Scales = data.W2Scales,
            W1Alpha = data.W1Alpha, W2Alpha = data.W2Alpha, InputGlobalScale = new[] { 0.01f }, Fc2InputScale = new[] { 0.02f },
        };
        BitAssert.Equal(plain, MoeCaseRunner.Run(withScales), data.Hidden, "with input_global_scale and fc2_input_scale");
    }

    [TestMethod]
    public void Float8ScaleTensorsGiveTheSameBitsAsByteTensors()
    {
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(Tokens: 5, Hidden: 48, Intermediate: 32, Experts: 3, TopK: 2, Seed: 10));
        BitAssert.Equal(MoeCaseRunner.Run(data), MoeCaseRunner.Run(data, float8Scales: true), data.Hidden, "float8_e4m3fn scales");
    }
}
