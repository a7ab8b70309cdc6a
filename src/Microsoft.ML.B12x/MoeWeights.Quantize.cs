using System;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.Quantization;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x;

public sealed partial class MoeWeights
{
    /// <summary>Largest E2M1 value × largest E4M3 value: the amax one unit of global scale covers (6·448).</summary>
    private const double FullScale = 6.0 * 448.0;

    /// <summary>
    /// Quantises dense expert weights to NVFP4 with ModelOpt's recipe (<see cref="Nvfp4Quantizer.QuantizeWeights"/>)
    /// and calibrates the activation scales as ModelOpt's static calibration does, on <paramref name="calibrationInputs"/>:
    /// <c>input_global_scale</c> = amax(x)/(6·448) ([1]); per expert e, <c>fc2_input_scale</c>[e] = amax of the
    /// activation act(x·Ŵ1_eᵀ) over every calibration row (each expert sees every row, a conservative choice compared
    /// with calibrating on routed rows only) divided by 6·448, computed in float64 from the bf16 inputs and the
    /// dequantised W1 (what the kernels see); <c>w1_alpha</c> = W1's per-expert global scales and <c>w2_alpha</c> =
    /// <c>fc2_input_scale</c> × W2's global scales. In W4A16 mode no activation scale is computed.
    /// </summary>
    /// <param name="w1">float32 or bfloat16 [E, W1Rows, H]: rows [0, I) = up, [I, 2I) = gate for silu; I rows for relu2.</param>
    /// <param name="w2">float32 or bfloat16 [E, H, I].</param>
    /// <param name="calibrationInputs">float32 or bfloat16 [N, H], N ≥ 1: typical hidden states (required for NVFP4;
    /// ignored for W4A16).</param>
    /// <param name="activation">The activation between FC1 and FC2.</param>
    /// <param name="quantMode">NVFP4 (activations quantised too) or W4A16 (weights only).</param>
    /// <param name="topK">K to record in the configuration, or null.</param>
    /// <param name="scaleLayout">Layout of the block scales in the result.</param>
    /// <returns>Weights on the device of <paramref name="w1"/>.</returns>
    /// <exception cref="ArgumentException">A wrong dtype, rank or shape, or a non-finite weight.</exception>
    public static MoeWeights Quantize(
        Tensor w1, Tensor w2, Tensor? calibrationInputs,
        MoeActivation activation = MoeActivation.Silu, MoeQuantMode quantMode = MoeQuantMode.Nvfp4, int? topK = null,
        ScaleLayout scaleLayout = ScaleLayout.Swizzled128x4)
    {
        TensorChecks.NotNull(w1, nameof(w1));
        TensorChecks.NotNull(w2, nameof(w2));
        TensorChecks.Rank(w1, nameof(w1), 3);
        TensorChecks.Rank(w2, nameof(w2), 3);
        if (!Enum.IsDefined(activation) || !Enum.IsDefined(quantMode) || !Enum.IsDefined(scaleLayout))
        {
            throw new ArgumentOutOfRangeException(nameof(activation), $"Unknown mode: activation {activation}, quantMode {quantMode}, scaleLayout {scaleLayout}.");
        }
        int experts = checked((int)w1.shape[0]), hidden = checked((int)w1.shape[2]), intermediate = checked((int)w2.shape[2]);
        int w1Rows = activation == MoeActivation.Silu ? 2 * intermediate : intermediate;
        TensorChecks.Shape(w1, nameof(w1), experts, w1Rows, hidden);
        TensorChecks.Shape(w2, nameof(w2), experts, hidden, intermediate);
        bool nvfp4 = quantMode == MoeQuantMode.Nvfp4;
        if (nvfp4)
        {
            TensorChecks.NotNull(calibrationInputs, nameof(calibrationInputs));
            TensorChecks.Dtype(calibrationInputs!, nameof(calibrationInputs), ScalarType.Float32, ScalarType.BFloat16);
            TensorChecks.Rank(calibrationInputs!, nameof(calibrationInputs), 2);
            if (calibrationInputs!.shape[0] < 1 || calibrationInputs.shape[1] != hidden)
            {
                throw new ArgumentException(
                    $"calibrationInputs must be [N, {hidden}] with N ≥ 1; got {TensorChecks.ShapeText(calibrationInputs.shape)}.", nameof(calibrationInputs));
            }
        }
        var config = new MoeLayerConfig
        {
            Hidden = hidden,
            Intermediate = intermediate,
            NumExperts = experts,
            NumLocalExperts = experts,
            TopK = topK,
            Activation = activation,
            QuantMode = quantMode,
            ScaleLayout = scaleLayout,
        };

        using DisposeScope scope = NewDisposeScope();
        QuantizedWeights q1 = Nvfp4Quantizer.QuantizeWeights(w1);
        QuantizedWeights q2 = Nvfp4Quantizer.QuantizeWeights(w2);
        Tensor w2Alpha = q2.GlobalScales;
        Tensor? inputGlobalScale = null, fc2InputScale = null;
        if (nvfp4)
        {
            Tensor x = calibrationInputs!.to(ScalarType.BFloat16).to(ScalarType.Float64, CPU);
            inputGlobalScale = tensor(new[] { ActivationScale(x.abs().max().item<double>()) }).to(w1.device);
            fc2InputScale = tensor(ExpertActivationScales(x, q1, config)).to(w1.device);
            w2Alpha = q2.GlobalScales.mul(fc2InputScale);
        }
        Tensor Layout(Tensor linear) => scaleLayout == ScaleLayout.Swizzled128x4 ? Nvfp4Quantizer.SwizzleScales(linear) : linear;
        var layer = new MoeLayerData(
            config,
            q1.Codes.MoveToOuterDisposeScope(), Layout(q1.Scales).MoveToOuterDisposeScope(),
            q2.Codes.MoveToOuterDisposeScope(), Layout(q2.Scales).MoveToOuterDisposeScope(),
            q1.GlobalScales.MoveToOuterDisposeScope(), w2Alpha.MoveToOuterDisposeScope(),
            fc2InputScale?.MoveToOuterDisposeScope(), inputGlobalScale?.MoveToOuterDisposeScope());
        return new MoeWeights(layer);
    }

    /// <summary>amax / (6·448) as float32, or 1 when amax is 0 (nothing to scale).</summary>
    private static float ActivationScale(double amax) => amax > 0 ? (float)(amax / FullScale) : 1f;

    /// <summary>Per expert: the scale of the largest |activation| over every calibration row, in float64.</summary>
    private static float[] ExpertActivationScales(Tensor x64, QuantizedWeights w1, MoeLayerConfig config)
    {
        var scales = new float[config.NumLocalExperts];
        for (int e = 0; e < config.NumLocalExperts; e++)
        {
            using DisposeScope scope = NewDisposeScope();
            Tensor weight = Nvfp4Quantizer.DequantizeWeights(w1.Codes[e], w1.Scales[e], w1.GlobalScales[e].reshape(1))
                .to(ScalarType.Float64, CPU);
            Tensor h = x64.matmul(weight.t());
            Tensor a = config.Activation == MoeActivation.Silu
                ? h.narrow(1, config.Intermediate, config.Intermediate).silu().mul(h.narrow(1, 0, config.Intermediate))
                : h.relu().square();
            scales[e] = ActivationScale(a.abs().max().item<double>());
        }
        return scales;
    }
}
