using System;
using System.Collections.Generic;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>
/// A seeded matrix of small cases for backend tests: modes cycle deterministically over the case index (quant mode,
/// activation, scale layout, source format or input_global_scale, scalar shape), sizes are drawn from the given
/// lists, and a quarter of the cases with E ≥ 3 are one expert-parallel rank.
/// </summary>
internal static class CaseMatrix
{
    public static IEnumerable<object[]> Generate(int seed, int count, int[] sizes, int[] experts, int[] topKs, int[] tokens)
    {
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            bool nvfp4 = i % 2 == 0;
            bool variant = i / 8 % 2 == 1;
            int e = experts[random.Next(experts.Length)];
            int? local = null;
            int offset = 0;
            if (e >= 3 && random.Next(4) == 0)
            {
                local = random.Next(1, e);
                offset = random.Next(0, e - local.Value + 1);
            }
            yield return new object[]
            {
                new MoeCaseSpec(
                    Tokens: tokens[random.Next(tokens.Length)],
                    Hidden: sizes[random.Next(sizes.Length)],
                    Intermediate: sizes[random.Next(sizes.Length)],
                    Experts: e,
                    TopK: topKs[random.Next(topKs.Length)],
                    Activation: i / 2 % 2 == 0 ? MoeActivation.Silu : MoeActivation.Relu2,
                    QuantMode: nvfp4 ? MoeQuantMode.Nvfp4 : MoeQuantMode.W4A16,
                    SourceFormat: !nvfp4 && variant ? MoeSourceFormat.CompressedTensors : MoeSourceFormat.ModelOpt,
                    Layout: i / 4 % 2 == 0 ? ScaleLayout.Swizzled128x4 : ScaleLayout.Linear,
                    WithInputGlobalScale: nvfp4 && !variant,
                    Scalars: (ScalarShape)(i / 16 % 3),
                    Ids64: random.Next(2) == 0,
                    LocalExperts: local,
                    LocalOffset: offset,
                    Seed: seed + i),
            };
        }
    }
}
