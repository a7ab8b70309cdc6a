using Microsoft.ML.B12x.Formats;
using Microsoft.ML.B12x.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.IO;

/// <summary>Small layers of random bytes with the shapes a layer file requires (not meant to compute anything).</summary>
internal static class LayerFixtures
{
    public static MoeLayerConfig Config(
        ScaleLayout layout = ScaleLayout.Swizzled128x4, MoeActivation activation = MoeActivation.Silu,
        MoeQuantMode quantMode = MoeQuantMode.Nvfp4, int experts = 3, int hidden = 32, int intermediate = 48) => new()
    {
        Hidden = hidden,
        Intermediate = intermediate,
        NumExperts = experts,
        NumLocalExperts = experts,
        TopK = 2,
        Activation = activation,
        QuantMode = quantMode,
        ScaleLayout = layout,
    };

    public static MoeLayerData Layer(MoeLayerConfig config, long seed = 1, bool inputGlobalScale = true)
    {
        using var generator = new Generator((ulong)seed);
        int e = config.NumLocalExperts;
        Tensor Codes(long rows, long columns) => randint(0, 256, new long[] { e, rows, columns / 2 }, ScalarType.Byte, generator: generator);
        Tensor Scales(int rows, int columns) => config.ScaleLayout == ScaleLayout.Linear
            ? randint(0, 0x7F, new long[] { e, rows, columns / 16 }, ScalarType.Byte, generator: generator)
            : randint(0, 0x7F, new long[] { e, SwizzledScaleLayout.PaddedRows(rows), SwizzledScaleLayout.PaddedBlocks(columns) }, ScalarType.Byte, generator: generator);
        Tensor Positive() => rand(new long[] { e }, generator: generator).add_(0.5f).mul_(1e-3f);
        bool nvfp4 = config.QuantMode == MoeQuantMode.Nvfp4;
        return new MoeLayerData(
            config,
            Codes(config.W1Rows, config.Hidden), Scales(config.W1Rows, config.Hidden),
            Codes(config.Hidden, config.Intermediate), Scales(config.Hidden, config.Intermediate),
            Positive(), Positive(),
            nvfp4 ? Positive() : null,
            nvfp4 && inputGlobalScale ? Positive() : null);
    }
}
