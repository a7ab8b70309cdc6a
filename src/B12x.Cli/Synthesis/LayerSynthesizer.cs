using System;
using Microsoft.ML.B12x;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace B12x.Cli.Synthesis;

/// <summary>
/// Builds a random but realistic layer and inputs, deterministically from the seed (one CPU generator, draws in a fixed
/// order; the calibration below is computed in float64, so its float32 result does not depend on thread count):
/// <list type="bullet">
/// <item>weights ~ N(0, 1)/√fan_in rounded to bf16 (fan_in = H for W1, I for W2), quantised with ModelOpt's NVFP4
/// recipe; w1_alpha = W1's per-expert global scales;</item>
/// <item>x ~ N(0, 1) in bf16; each token routes to K distinct experts chosen uniformly, with weights
/// softmax(N(0, 1) logits) over its K routes;</item>
/// <item>NVFP4 only: input_global_scale = amax(x)/(6·448); fc2_input_scale = amax(a)/(6·448), where a is the
/// activation (silu(gate)·up or relu(h)²) of every routed pair computed from x and the dequantised W1 (what the
/// kernels see), so the FC2 input fills the E2M1×E4M3 range as ModelOpt's calibration would;
/// w2_alpha = fc2_input_scale × W2's global scales. W4A16: w2_alpha = W2's global scales, no activation scales.</item>
/// </list>
/// </summary>
internal static class LayerSynthesizer
{
    /// <summary>Largest E2M1 value × largest E4M3 value: the amax one unit of global scale covers.</summary>
    private const double FullScale = 6.0 * 448.0;

    /// <summary>Creates the layer and inputs; the caller owns (and disposes) both.</summary>
    public static (MoeLayerData Layer, MoeInputs Inputs) Create(SynthesisSpec spec)
    {
        using DisposeScope scope = NewDisposeScope();
        using var generator = new Generator(spec.Seed, CPU);
        var config = new MoeLayerConfig
        {
            Hidden = spec.Hidden,
            Intermediate = spec.Intermediate,
            NumExperts = spec.Experts,
            NumLocalExperts = spec.Experts,
            TopK = spec.TopK,
            Activation = spec.Activation,
            QuantMode = spec.QuantMode,
            ScaleLayout = spec.ScaleLayout,
        };

        Tensor w1 = Weights(spec.Experts, config.W1Rows, spec.Hidden, generator);
        Tensor w2 = Weights(spec.Experts, spec.Hidden, spec.Intermediate, generator);
        Tensor x = randn(new long[] { spec.Tokens, spec.Hidden }, generator: generator).to(ScalarType.BFloat16);
        Tensor ids = rand(new long[] { spec.Tokens, spec.Experts }, generator: generator)
            .topk(spec.TopK, dim: 1, largest: true, sorted: true).indexes.to(ScalarType.Int32);
        Tensor routing = randn(new long[] { spec.Tokens, spec.TopK }, generator: generator).softmax(1);

        QuantizedWeights q1 = Nvfp4Quantizer.QuantizeWeights(w1);
        QuantizedWeights q2 = Nvfp4Quantizer.QuantizeWeights(w2);
        Tensor w1Alpha = q1.GlobalScales;
        Tensor w2Alpha = q2.GlobalScales;
        Tensor? inputGlobalScale = null, fc2InputScale = null;
        if (spec.QuantMode == MoeQuantMode.Nvfp4)
        {
            inputGlobalScale = ActivationScale(x.to(ScalarType.Float32).abs().max().item<float>());
            fc2InputScale = ActivationScale(ActivationAmax(x, ids, q1, config));
            w2Alpha = q2.GlobalScales.mul(fc2InputScale);
        }
        Tensor Layout(Tensor linear) => spec.ScaleLayout == ScaleLayout.Swizzled128x4 ? Nvfp4Quantizer.SwizzleScales(linear) : linear;

        var layer = new MoeLayerData(
            config,
            q1.Codes.MoveToOuterDisposeScope(), Layout(q1.Scales).MoveToOuterDisposeScope(),
            q2.Codes.MoveToOuterDisposeScope(), Layout(q2.Scales).MoveToOuterDisposeScope(),
            w1Alpha.MoveToOuterDisposeScope(), w2Alpha.MoveToOuterDisposeScope(),
            fc2InputScale?.MoveToOuterDisposeScope(), inputGlobalScale?.MoveToOuterDisposeScope());
        var inputs = new MoeInputs(x.MoveToOuterDisposeScope(), ids.MoveToOuterDisposeScope(), routing.MoveToOuterDisposeScope());
        return (layer, inputs);
    }

    /// <summary>N(0, 1)/√fan_in, rounded to bf16: [experts, rows, fanIn].</summary>
    private static Tensor Weights(int experts, int rows, int fanIn, Generator generator) =>
        randn(new long[] { experts, rows, fanIn }, generator: generator).div_(Math.Sqrt(fanIn)).to(ScalarType.BFloat16);

    /// <summary>A [1] float32 global scale amax/(6·448), or 1 for an all-zero tensor (nothing to scale).</summary>
    private static Tensor ActivationScale(double amax) => tensor(new[] { amax > 0 ? (float)(amax / FullScale) : 1f });

    /// <summary>The largest |activation| over all routed pairs, from x and the dequantised W1, in float64.</summary>
    private static double ActivationAmax(Tensor x, Tensor ids, QuantizedWeights w1, MoeLayerConfig config)
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor x64 = x.to(ScalarType.Float64);
        double amax = 0;
        for (int e = 0; e < config.NumLocalExperts; e++)
        {
            Tensor rows = ids.eq(e).any(1).nonzero().flatten();
            if (rows.numel() == 0)
            {
                continue;
            }
            Tensor weight = Nvfp4Quantizer.DequantizeWeights(w1.Codes[e], w1.Scales[e], w1.GlobalScales[e].reshape(1)).to(ScalarType.Float64);
            Tensor h = x64.index_select(0, rows).matmul(weight.t());
            Tensor a = config.Activation == MoeActivation.Silu
                ? h.narrow(1, config.Intermediate, config.Intermediate).silu().mul(h.narrow(1, 0, config.Intermediate))
                : h.relu().square();
            amax = Math.Max(amax, a.abs().max().item<double>());
        }
        return amax;
    }
}
