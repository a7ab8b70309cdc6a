using Microsoft.ML.B12x.IO;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.IO;

[TestClass]
public sealed class ScaleConventionCheckTests
{
    private static readonly MoeLayerConfig s_nvfp4 = LayerFixtures.Config();

    [TestMethod]
    public void WeightSizedAlphaWithoutInputGlobalScaleIsWarnedAbout()
    {
        string? warning = ScaleConventionCheck.Warning(s_nvfp4, new[] { 1.2e-4f, 3e-4f, 2e-4f }, hasInputGlobalScale: false);

        Assert.IsNotNull(warning);
        Assert.Contains("max 3e-4", warning);
        Assert.Contains("no input_global_scale", warning);
        Assert.Contains("inputs clip near |x| = 0.806", warning); // 2688 · 3e-4
    }

    [TestMethod]
    public void InputGlobalScaleSilencesTheWarning()
    {
        Assert.IsNull(ScaleConventionCheck.Warning(s_nvfp4, new[] { 1e-4f }, hasInputGlobalScale: true));
    }

    [TestMethod]
    public void AlphaOfInputScaleSizeIsNotWarnedAbout()
    {
        Assert.IsNull(ScaleConventionCheck.Warning(s_nvfp4, new[] { 1e-4f, 0.02f }, hasInputGlobalScale: false));
    }

    [TestMethod]
    public void W4A16LayersAreNotWarnedAbout()
    {
        MoeLayerConfig w4a16 = s_nvfp4 with { QuantMode = MoeQuantMode.W4A16 };

        Assert.IsNull(ScaleConventionCheck.Warning(w4a16, new[] { 1e-4f }, hasInputGlobalScale: false));
    }

    [TestMethod]
    public void LayerDataIsCheckedThroughItsW1Alpha()
    {
        using MoeLayerData layer = LayerFixtures.Layer(s_nvfp4, inputGlobalScale: false);

        Assert.IsNotNull(ScaleConventionCheck.Warning(layer));
    }
}
