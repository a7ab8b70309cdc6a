using System.Collections.Generic;
using Microsoft.ML.B12x.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>A benchmark shape of docs/performance.md.</summary>
public sealed record NamedShape(string Name, int Hidden, int Intermediate, int Experts, int TopK, MoeActivation Activation)
{
    public static IReadOnlyList<NamedShape> All { get; } = new[]
    {
        new NamedShape("qwen3-30b-a3b", 2048, 768, 128, 8, MoeActivation.Silu),
        new NamedShape("qwen3-235b-a22b", 4096, 1536, 128, 8, MoeActivation.Silu),
        new NamedShape("deepseek-v3", 7168, 2048, 256, 8, MoeActivation.Silu),
        new NamedShape("gpt-oss-120b", 2880, 2880, 128, 4, MoeActivation.Silu),
        new NamedShape("mixtral-8x7b", 4096, 14336, 8, 2, MoeActivation.Silu),
        new NamedShape("nemotron-3-nano", 2688, 1856, 128, 6, MoeActivation.Relu2),
    };

    public override string ToString() => Name;
}

/// <summary>
/// NVFP4 arguments of a named shape at full size, drawn with LibTorch's generator (the shapes hold up to 5.6 GB of
/// codes): random codes, E4M3 block scales mostly in 2^-2..2^1 with about 3 % subnormals, per-expert weight global
/// scales near amax/2688, input and FC2-input scales, top-k routing without repeats. CPU tensors, swizzled scales.
/// </summary>
internal static class NamedShapeCase
{
    public static MoeTensors Create(NamedShape shape, int tokens, long seed)
    {
        var generator = new Generator((ulong)seed);
        int w1Rows = shape.Activation == MoeActivation.Silu ? 2 * shape.Intermediate : shape.Intermediate;
        Tensor Codes(params long[] size) => randint(0, 256, size, ScalarType.Byte, generator: generator);
        Tensor Scales(params long[] size)
        {
            Tensor normal = randint(0x30, 0x48, size, ScalarType.Byte, generator: generator);
            Tensor subnormal = randint(1, 8, size, ScalarType.Byte, generator: generator);
            return where(rand(size, generator: generator) < 0.03, subnormal, normal);
        }
        Tensor w1 = Codes(shape.Experts, w1Rows, shape.Hidden / 2);
        Tensor w2 = Codes(shape.Experts, shape.Hidden, shape.Intermediate / 2);
        Tensor w1Sf = Nvfp4Quantizer.SwizzleScales(Scales(shape.Experts, w1Rows, shape.Hidden / 16));
        Tensor w2Sf = Nvfp4Quantizer.SwizzleScales(Scales(shape.Experts, shape.Hidden, shape.Intermediate / 16));
        Tensor x = (randn(new long[] { tokens, shape.Hidden }, generator: generator) * 2).to(ScalarType.BFloat16);
        Tensor ids = rand(new long[] { tokens, shape.Experts }, generator: generator).argsort(1)
            .narrow(1, 0, shape.TopK).to(ScalarType.Int32).contiguous();
        Tensor weights = rand(new long[] { tokens, shape.TopK }, generator: generator);
        Tensor LogUniform(double low, double high) =>
            exp(rand(shape.Experts, generator: generator) * System.Math.Log(high / low) + System.Math.Log(low)).to(ScalarType.Float32);
        var options = new FusedMoeOptions
        {
            Activation = shape.Activation,
            Fc2InputScale = LogUniform(5e-3, 5e-2),
            InputGlobalScale = LogUniform(5e-4, 2e-3),
            Device = ComputeDevice.Cpu,
        };
        return new MoeTensors(x, w1, w1Sf, w2, w2Sf, ids, weights, shape.Experts, shape.TopK,
            LogUniform(2e-4, 2e-3), LogUniform(2e-4, 2e-3), options);
    }
}
