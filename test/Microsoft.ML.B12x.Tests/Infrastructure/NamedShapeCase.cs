using B12x.Cli.Benchmarks;
using Microsoft.ML.B12x.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>
/// NVFP4 arguments of a benchmark shape (docs/performance.md) at full size, drawn with LibTorch's generator (the shapes hold up to 5.6 GB of
/// codes): random codes, E4M3 block scales mostly in 2^-2..2^1 with about 3 % subnormals, per-expert weight global
/// scales near amax/2688, input and FC2-input scales, top-k routing without repeats. CPU tensors, swizzled scales.
/// </summary>
internal static class NamedShapeCase
{
    public static MoeTensors Create(BenchmarkShape shape, int tokens, long seed)
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
