using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.B12x.Backends.Cpu;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.ML.B12x.Tests.Reference;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Backends.Cpu;

/// <summary>The CPU backend against the independent oracle, bit for bit, over a matrix of small shapes and every mode.</summary>
[TestClass]
public sealed class CpuMoeBackendOracleTests
{
    private const int MatrixSeed = 20261126;

    /// <summary>
    /// 72 cases: modes cycle deterministically (quant mode, activation, layout, source format or input_global_scale,
    /// scalar shape), sizes come from the seeded generator (H, I in {16, 32, 48, 64, 128, 144}, E in {1, 3, 8},
    /// K in {1, 2, 4}, T in {0, 1, 5, 17}), and a quarter of the cases with E ≥ 3 are one expert-parallel rank.
    /// </summary>
    public static IEnumerable<object[]> Matrix() => CaseMatrix.Generate(
        MatrixSeed, 72, sizes: new[] { 16, 32, 48, 64, 128, 144 }, experts: new[] { 1, 3, 8 }, topKs: new[] { 1, 2, 4 },
        tokens: new[] { 0, 1, 5, 17 });

    [TestMethod]
    [DynamicData(nameof(Matrix))]
    public void MatchesTheOracleBitForBit(MoeCaseSpec spec)
    {
        MoeCaseData data = MoeCaseGenerator.Create(spec);
        ushort[] expected = ReferenceMoe.Run(data);
        BitAssert.Equal(expected, MoeCaseRunner.Run(data), data.Hidden, $"{spec} (best kernels)");
    }

    [TestMethod]
    [DynamicData(nameof(Matrix))]
    public void EveryInstructionSetLevelMatchesTheOracle(MoeCaseSpec spec)
    {
        MoeCaseData data = MoeCaseGenerator.Create(spec);
        ushort[] expected = ReferenceMoe.Run(data);
        foreach (CpuVectorIsa isa in Enum.GetValues<CpuVectorIsa>().Where(CpuVectorIsaSelector.IsSupported))
        {
            BitAssert.Equal(expected, MoeCaseRunner.Run(data, isa), data.Hidden, $"{spec} ({isa})");
        }
    }

    [TestMethod]
    public void TheMatrixExercisesSaturatedSubnormalAndZeroScalesInBothQuantisers()
    {
        var input = new ReferenceMoe.Regimes();
        var intermediate = new ReferenceMoe.Regimes();
        int nonZeroOutputs = 0, outputs = 0;
        foreach (object[] row in Matrix())
        {
            var spec = (MoeCaseSpec)row[0];
            if (spec.QuantMode != MoeQuantMode.Nvfp4)
            {
                continue;
            }
            ushort[] output = ReferenceMoe.Run(MoeCaseGenerator.Create(spec), input, intermediate);
            outputs += output.Length;
            nonZeroOutputs += output.Count(bits => (bits & 0x7FFF) != 0);
        }
        foreach ((string name, ReferenceMoe.Regimes r) in new[] { ("step 1", input), ("step 4", intermediate) })
        {
            Assert.IsGreaterThan(r.Blocks / 50, r.SaturatedScales, $"{name}: saturated scales {r.SaturatedScales} of {r.Blocks}");
            Assert.IsGreaterThan(r.Blocks / 50, r.SubnormalScales, $"{name}: subnormal scales {r.SubnormalScales} of {r.Blocks}");
            Assert.IsGreaterThan(0, r.ZeroScales, $"{name}: zero scales");
        }
        Assert.IsGreaterThan(outputs / 2, nonZeroOutputs, "most outputs are non-zero");
    }

    [TestMethod]
    public void TheMatrixCoversEverySizeAndModeCombination()
    {
        MoeCaseSpec[] specs = Matrix().Select(row => (MoeCaseSpec)row[0]).ToArray();
        CollectionAssert.IsSubsetOf(new[] { 16, 32, 48, 64, 128, 144 }, specs.Select(s => s.Hidden).Distinct().ToArray(), "H");
        CollectionAssert.IsSubsetOf(new[] { 16, 32, 48, 64, 128, 144 }, specs.Select(s => s.Intermediate).Distinct().ToArray(), "I");
        CollectionAssert.IsSubsetOf(new[] { 1, 3, 8 }, specs.Select(s => s.Experts).Distinct().ToArray(), "E");
        CollectionAssert.IsSubsetOf(new[] { 1, 2, 4 }, specs.Select(s => s.TopK).Distinct().ToArray(), "K");
        CollectionAssert.IsSubsetOf(new[] { 0, 1, 5, 17 }, specs.Select(s => s.Tokens).Distinct().ToArray(), "T");
        Assert.IsTrue(specs.Any(s => s.LocalExperts is not null && s.LocalOffset > 0), "an expert-parallel rank with an offset");
        Assert.IsTrue(specs.Any(s => s.Ids64) && specs.Any(s => !s.Ids64), "int32 and int64 ids");
        foreach (MoeQuantMode mode in Enum.GetValues<MoeQuantMode>())
        {
            foreach (MoeActivation activation in Enum.GetValues<MoeActivation>())
            {
                foreach (ScaleLayout layout in Enum.GetValues<ScaleLayout>())
                {
                    foreach (ScalarShape scalars in Enum.GetValues<ScalarShape>())
                    {
                        MoeCaseSpec[] matching = specs.Where(s => s.QuantMode == mode && s.Activation == activation && s.Layout == layout && s.Scalars == scalars).ToArray();
                        if (mode == MoeQuantMode.Nvfp4)
                        {
                            Assert.IsTrue(matching.Any(s => s.WithInputGlobalScale) && matching.Any(s => !s.WithInputGlobalScale),
                                $"{mode} {activation} {layout} {scalars}: with and without input_global_scale");
                        }
                        else
                        {
                            Assert.IsTrue(matching.Any(s => s.SourceFormat == MoeSourceFormat.ModelOpt) && matching.Any(s => s.SourceFormat == MoeSourceFormat.CompressedTensors),
                                $"{mode} {activation} {layout} {scalars}: both source formats");
                        }
                    }
                }
            }
        }
    }
}
