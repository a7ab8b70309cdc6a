using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

[TestClass]
public sealed class LibTorchLoadingTests
{
    [TestMethod]
    public void LibTorchLoadsAndComputes()
    {
        using var t = torch.ones(3);
        Assert.AreEqual(3f, t.sum().item<float>());
    }
}
