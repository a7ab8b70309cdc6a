using System;
using Microsoft.ML.B12x;
using Microsoft.ML.B12x.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace B12x.Cli.Benchmarks;

/// <summary>
/// A valid NVFP4 layer of a benchmark shape with random weights, built with <see cref="Nvfp4Quantizer"/> from a fixed
/// seed. Quantising every expert of the large shapes would take minutes and gigabytes of float32, so a few distinct
/// random experts are quantised and repeated across the E experts (timing does not depend on the weight values).
/// Scales follow ModelOpt's convention and carry input_global_scale, as everything this library writes: one value
/// for the layer ([1]), as the checkpoint importer writes it (the gate/up input scales of a ModelOpt layer are
/// shared by its experts), and fc2_input_scale per expert ([E]).
/// </summary>
internal sealed class SyntheticMoeLayer : IDisposable
{
    /// <summary>Distinct random experts quantised; the others repeat them.</summary>
    public const int DistinctExperts = 4;

    /// <summary>Standard deviation of the random weights (typical of trained MoE projections).</summary>
    private const double WeightStd = 0.02;

    /// <summary>
    /// ModelOpt-style static activation scales (amax / (6·448)) for standard-normal hidden states (amax ≈ 4.5 over a
    /// calibration set) and for the intermediate activations of these weights (amax ≈ 4).
    /// </summary>
    private const float InputScale = 4.5f / 2688f, IntermediateScale = 4f / 2688f;

    private SyntheticMoeLayer(BenchmarkShape shape)
    {
        Shape = shape;
    }

    public BenchmarkShape Shape { get; }

    public Tensor W1 { get; private set; } = null!;

    public Tensor W1Scales { get; private set; } = null!;

    public Tensor W2 { get; private set; } = null!;

    public Tensor W2Scales { get; private set; } = null!;

    public Tensor W1Alpha { get; private set; } = null!;

    public Tensor W2Alpha { get; private set; } = null!;

    public Tensor InputGlobalScale { get; private set; } = null!;

    public Tensor Fc2InputScale { get; private set; } = null!;

    /// <summary>Builds the layer on <paramref name="device"/>.</summary>
    public static SyntheticMoeLayer Create(BenchmarkShape shape, long seed, Device device)
    {
        using var scope = NewDisposeScope();
        var layer = new SyntheticMoeLayer(shape);
        using var generator = new Generator((ulong)seed, CPU);
        int w1Rows = shape.Activation == MoeActivation.Silu ? 2 * shape.Intermediate : shape.Intermediate;
        (layer.W1, layer.W1Scales, float[] s1) = Stack(shape.Experts, w1Rows, shape.Hidden, generator);
        (layer.W2, layer.W2Scales, float[] s2) = Stack(shape.Experts, shape.Hidden, shape.Intermediate, generator);
        var w2Alpha = new float[shape.Experts];
        for (int e = 0; e < shape.Experts; e++)
        {
            w2Alpha[e] = IntermediateScale * s2[e]; // w2_alpha holds fc2_input_scale × the weight's global scale
        }
        layer.W1Alpha = tensor(s1);
        layer.W2Alpha = tensor(w2Alpha);
        layer.InputGlobalScale = full(1, InputScale);
        layer.Fc2InputScale = full(shape.Experts, IntermediateScale);
        layer.W1 = Keep(layer.W1, device);
        layer.W1Scales = Keep(layer.W1Scales, device);
        layer.W2 = Keep(layer.W2, device);
        layer.W2Scales = Keep(layer.W2Scales, device);
        layer.W1Alpha = Keep(layer.W1Alpha, device);
        layer.W2Alpha = Keep(layer.W2Alpha, device);
        layer.InputGlobalScale = Keep(layer.InputGlobalScale, device);
        layer.Fc2InputScale = Keep(layer.Fc2InputScale, device);
        return layer;
    }

    /// <summary>Runs the layer on inputs made by <see cref="BenchmarkInputs"/>.</summary>
    public Tensor Run(BenchmarkInputs inputs, int? cpuThreads, ComputeDevice device, KernelStrategy strategy = KernelStrategy.Auto) =>
        B12xOps.FusedMoe(
            inputs.X, W1, W1Scales, W2, W2Scales, inputs.Ids, inputs.Weights, Shape.Experts, Shape.TopK, W1Alpha, W2Alpha,
            Options(cpuThreads, device, strategy));

    /// <summary>The operator options of this layer.</summary>
    public FusedMoeOptions Options(
        int? cpuThreads = null, ComputeDevice device = ComputeDevice.Auto, KernelStrategy strategy = KernelStrategy.Auto) => new()
    {
        Activation = Shape.Activation,
        Fc2InputScale = Fc2InputScale,
        InputGlobalScale = InputGlobalScale,
        CpuThreads = cpuThreads,
        Device = device,
        Strategy = strategy,
    };

    public void Dispose()
    {
        foreach (Tensor t in new[] { W1, W1Scales, W2, W2Scales, W1Alpha, W2Alpha, InputGlobalScale, Fc2InputScale })
        {
            t.Dispose();
        }
    }

    private static Tensor Keep(Tensor t, Device device) =>
        (device.type == DeviceType.CPU ? t : t.to(device)).MoveToOuterDisposeScope();

    /// <summary>Codes [E, N, C/2], swizzled scales [E, Np, Cbp] and global scales of E experts repeating a few random ones.</summary>
    private static (Tensor Codes, Tensor Scales, float[] GlobalScales) Stack(int experts, int rows, int columns, Generator generator)
    {
        int distinct = Math.Min(experts, DistinctExperts);
        Tensor codes = empty(new long[] { experts, rows, columns / 2 }, ScalarType.Byte);
        Tensor scales = null!;
        var global = new float[experts];
        for (int d = 0; d < distinct; d++)
        {
            using var scope = NewDisposeScope();
            Tensor weights = randn(new long[] { 1, rows, columns }, generator: generator) * WeightStd;
            using QuantizedWeights q = Nvfp4Quantizer.QuantizeWeights(weights);
            Tensor swizzled = Nvfp4Quantizer.SwizzleScales(q.Scales);
            if (d == 0)
            {
                scales = empty(new long[] { experts, swizzled.shape[1], swizzled.shape[2] }, ScalarType.Byte).MoveToOuterDisposeScope();
            }
            float globalScale = q.GlobalScales.item<float>();
            for (int e = d; e < experts; e += distinct)
            {
                codes[e].copy_(q.Codes[0]);
                scales[e].copy_(swizzled[0]);
                global[e] = globalScale;
            }
        }
        return (codes, scales, global);
    }
}
