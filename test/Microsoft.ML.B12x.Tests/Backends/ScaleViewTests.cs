using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.Backends;

/// <summary>FlashInfer's 6-D view of swizzled scales is read by its logical indices, whatever its strides.</summary>
[TestClass]
public sealed class ScaleViewTests
{
    /// <summary>Storage [E, Np/128, Cbp/4, 32, 4, 4] viewed as (32, 4, Np/128, 4, Cbp/4, E): element [a, b, c, d, f, e].</summary>
    private static Tensor SixDimensionalView(Tensor storage, int experts, int rows, int blocks)
    {
        long np = (rows + 127) / 128, cbp = (blocks + 3) / 4;
        return storage.reshape(experts, np, cbp, 32, 4, 4).permute(3, 4, 1, 5, 2, 0);
    }

    [TestMethod]
    [DataRow(MoeQuantMode.Nvfp4)]
    [DataRow(MoeQuantMode.W4A16)]
    public void PermutedViewAndItsContiguousCopyGiveTheStorageResult(MoeQuantMode mode)
    {
        // H = 144 (9 blocks: Cbp = 12) and 2I = 160 rows (Np = 256): padding on both axes.
        MoeCaseData data = MoeCaseGenerator.Create(new MoeCaseSpec(
            Tokens: 5, Hidden: 144, Intermediate: 80, Experts: 3, TopK: 2, QuantMode: mode, Seed: 31));
        using var scope = NewDisposeScope();
        MoeTensors t = MoeTensors.From(data);
        ushort[] expected = MoeTensors.Bits(t.Call());

        Tensor w1View = SixDimensionalView(t.W1WeightSf, 3, data.W1Rows, data.Hidden / 16);
        Tensor w2View = SixDimensionalView(t.W2WeightSf, 3, data.Hidden, data.Intermediate / 16);
        Assert.IsFalse(w1View.is_contiguous(), "the view has permuted strides");
        CollectionAssert.AreEqual(new long[] { 32, 4, 2, 4, 3, 3 }, w1View.shape);
        ushort[] viaView = MoeTensors.Bits((t with { W1WeightSf = w1View, W2WeightSf = w2View }).Call());
        BitAssert.Equal(expected, viaView, data.Hidden, "6-D view");

        ushort[] viaCopy = MoeTensors.Bits((t with { W1WeightSf = w1View.contiguous(), W2WeightSf = w2View.contiguous() }).Call());
        BitAssert.Equal(expected, viaCopy, data.Hidden, "contiguous copy of the 6-D view");
    }
}
