using System;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.IO;

/// <summary>
/// One MoE layer's tensors and configuration, as a layer file holds them (see <see cref="LayerFile"/>); the tensors
/// are the arguments of <see cref="B12xOps.FusedMoe"/>. The object owns its tensors: disposing it disposes them.
/// </summary>
public sealed class MoeLayerData : IDisposable
{
    /// <summary>Wraps tensors (taking ownership) and their configuration; <see cref="LayerFile.Save"/> validates them.</summary>
    /// <param name="config">Sizes and modes.</param>
    /// <param name="w1Weight">uint8 [E_loc, W1Rows, H/2], two E2M1 codes per byte.</param>
    /// <param name="w1WeightSf">E4M3 bytes (uint8 or float8_e4m3fn): swizzled [E_loc, Np, Cbp] or linear [E_loc, W1Rows, H/16].</param>
    /// <param name="w2Weight">uint8 [E_loc, H, I/2].</param>
    /// <param name="w2WeightSf">As <paramref name="w1WeightSf"/> with N = H, C = I.</param>
    /// <param name="w1Alpha">float32 [1], [E] or [E_loc].</param>
    /// <param name="w2Alpha">float32 [1], [E] or [E_loc].</param>
    /// <param name="fc2InputScale">float32 [1], [E] or [E_loc]; required for NVFP4.</param>
    /// <param name="inputGlobalScale">float32 [1], [E] or [E_loc]; optional (see <see cref="FusedMoeOptions.InputGlobalScale"/>).</param>
    public MoeLayerData(
        MoeLayerConfig config, Tensor w1Weight, Tensor w1WeightSf, Tensor w2Weight, Tensor w2WeightSf,
        Tensor w1Alpha, Tensor w2Alpha, Tensor? fc2InputScale, Tensor? inputGlobalScale)
    {
        Config = config ?? throw new ArgumentNullException(nameof(config));
        W1Weight = w1Weight ?? throw new ArgumentNullException(nameof(w1Weight));
        W1WeightSf = w1WeightSf ?? throw new ArgumentNullException(nameof(w1WeightSf));
        W2Weight = w2Weight ?? throw new ArgumentNullException(nameof(w2Weight));
        W2WeightSf = w2WeightSf ?? throw new ArgumentNullException(nameof(w2WeightSf));
        W1Alpha = w1Alpha ?? throw new ArgumentNullException(nameof(w1Alpha));
        W2Alpha = w2Alpha ?? throw new ArgumentNullException(nameof(w2Alpha));
        Fc2InputScale = fc2InputScale;
        InputGlobalScale = inputGlobalScale;
    }

    /// <summary>Sizes and modes.</summary>
    public MoeLayerConfig Config { get; }

    /// <summary>The file it was loaded from, or null.</summary>
    public string? SourcePath { get; init; }

    /// <summary>FC1 codes, uint8 [E_loc, W1Rows, H/2].</summary>
    public Tensor W1Weight { get; }

    /// <summary>FC1 block scales (E4M3 bits), laid out as <see cref="MoeLayerConfig.ScaleLayout"/> says.</summary>
    public Tensor W1WeightSf { get; }

    /// <summary>FC2 codes, uint8 [E_loc, H, I/2].</summary>
    public Tensor W2Weight { get; }

    /// <summary>FC2 block scales (E4M3 bits).</summary>
    public Tensor W2WeightSf { get; }

    /// <summary>FC1 output scale, float32 [1], [E] or [E_loc].</summary>
    public Tensor W1Alpha { get; }

    /// <summary>FC2 output scale (fc2_input_scale × W2's global scale in NVFP4 mode).</summary>
    public Tensor W2Alpha { get; }

    /// <summary>FC2-input quantisation scale gs2; null only in W4A16 mode.</summary>
    public Tensor? Fc2InputScale { get; }

    /// <summary>FC1-input quantisation scale gs1, or null (then gs1 = w1_alpha).</summary>
    public Tensor? InputGlobalScale { get; }

    /// <summary>
    /// The options that run this layer as the file describes it, plus the execution choices, which no file holds.
    /// </summary>
    public FusedMoeOptions CreateOptions(KernelStrategy strategy = KernelStrategy.Auto, ComputeDevice device = ComputeDevice.Auto) => new()
    {
        Activation = Config.Activation,
        QuantMode = Config.QuantMode,
        SourceFormat = Config.SourceFormat,
        ScaleLayout = Config.ScaleLayout,
        NumLocalExperts = Config.NumLocalExperts,
        LocalExpertOffset = Config.LocalExpertOffset,
        Fc2InputScale = Fc2InputScale,
        InputGlobalScale = InputGlobalScale,
        Strategy = strategy,
        Device = device,
    };

    /// <summary>
    /// Checks choices made outside the file (a command-line flag, a transformer option) against it: the file is
    /// authoritative, so any explicit value (non-null argument) that differs from the file is an error.
    /// </summary>
    /// <exception cref="ArgumentException">An argument contradicts the file; the message names both values.</exception>
    public void EnsureAgrees(
        MoeActivation? activation = null, MoeQuantMode? quantMode = null, MoeSourceFormat? sourceFormat = null,
        ScaleLayout? scaleLayout = null, int? numExperts = null, int? topK = null, int? numLocalExperts = null,
        int? localExpertOffset = null)
    {
        Agree(nameof(activation), activation, Config.Activation, ModeSpellings.ToSpelling);
        Agree(nameof(quantMode), quantMode, Config.QuantMode, ModeSpellings.ToSpelling);
        Agree(nameof(sourceFormat), sourceFormat, Config.SourceFormat, ModeSpellings.ToSpelling);
        Agree(nameof(scaleLayout), scaleLayout, Config.ScaleLayout, ModeSpellings.ToSpelling);
        Agree(nameof(numExperts), numExperts, Config.NumExperts, Text);
        Agree(nameof(numLocalExperts), numLocalExperts, Config.NumLocalExperts, Text);
        Agree(nameof(localExpertOffset), localExpertOffset, Config.LocalExpertOffset, Text);
        if (topK is not null && Config.TopK is not null && topK != Config.TopK)
        {
            throw Contradiction(nameof(topK), Text(topK.Value), Text(Config.TopK.Value));
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        W1Weight.Dispose();
        W1WeightSf.Dispose();
        W2Weight.Dispose();
        W2WeightSf.Dispose();
        W1Alpha.Dispose();
        W2Alpha.Dispose();
        Fc2InputScale?.Dispose();
        InputGlobalScale?.Dispose();
    }

    private void Agree<T>(string name, T? given, T inFile, Func<T, string> spell) where T : struct
    {
        if (given is not null && !given.Value.Equals(inFile))
        {
            throw Contradiction(name, spell(given.Value), spell(inFile));
        }
    }

    private ArgumentException Contradiction(string name, string given, string inFile) => new(
        $"{name} = {given} contradicts the layer file {SourcePath ?? "(not from a file)"}, which says {inFile}; the file is authoritative: drop the option or fix the file.",
        name);

    private static string Text(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
