using System;
using System.Globalization;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.IO;

/// <summary>
/// Spots the scale trap of semantics.md §Scales: in NVFP4 mode without <c>input_global_scale</c>, <c>w1_alpha</c> is
/// also the FC1-input quantisation scale (FlashInfer's older convention, the weight's global scale baked into the
/// block scales). ModelOpt-style layers whose <c>w1_alpha</c> is the weight's own global scale (amax/2688, about
/// 1e-4) then clip inputs near 2688·w1_alpha and give outputs 10³–10⁴× too large, silently.
/// </summary>
public static class ScaleConventionCheck
{
    /// <summary>
    /// w1_alpha values all below this look like weight global scales: amax/(6·448) stays under 1e-2 for weights with
    /// |w| &lt; 27, i.e. for every real layer, whereas an input scale of the older convention covers activations
    /// whose amax is usually in the tens or more.
    /// </summary>
    public const float WeightScaleThreshold = 1e-2f;

    /// <summary>Largest E2M1 value × largest E4M3 value: the input amax that one unit of global scale covers.</summary>
    private const float FullScale = 6f * 448f;

    /// <summary>The warning for <paramref name="layer"/>, or null when it does not fall into the trap.</summary>
    public static string? Warning(MoeLayerData layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        using DisposeScope scope = NewDisposeScope();
        Tensor host = layer.W1Alpha.cpu().contiguous();
        return Warning(layer.Config, TensorPointers.HostSpan<float>(host), layer.InputGlobalScale is not null);
    }

    /// <summary>
    /// The warning text when the layer is NVFP4, has no input_global_scale and every w1_alpha value is below
    /// <see cref="WeightScaleThreshold"/>; else null.
    /// </summary>
    public static string? Warning(MoeLayerConfig config, ReadOnlySpan<float> w1Alpha, bool hasInputGlobalScale)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.QuantMode != MoeQuantMode.Nvfp4 || hasInputGlobalScale || w1Alpha.IsEmpty)
        {
            return null;
        }
        float largest = 0;
        foreach (float value in w1Alpha)
        {
            if (!(value < WeightScaleThreshold))
            {
                return null;
            }
            largest = MathF.Max(largest, value);
        }
        string max = largest.ToString("0.###e+0", CultureInfo.InvariantCulture);
        string clip = (largest * FullScale).ToString("0.###", CultureInfo.InvariantCulture);
        return $"w1_alpha is below {WeightScaleThreshold.ToString(CultureInfo.InvariantCulture)} everywhere (max {max}), which looks like the " +
            "weights' own global scale, but the layer has no input_global_scale. In nvfp4 mode w1_alpha then also serves as the input's " +
            $"quantisation scale: inputs clip near |x| = {clip} and outputs come out 10^3 to 10^4 times too large, silently. Add " +
            "input_global_scale (the input amax / 2688, ModelOpt's input_scale), or fold the weight's global scale into its block " +
            "scales (semantics.md, Scales).";
    }
}
