using Microsoft.ML.B12x.Formats;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Formats;

[TestClass]
public sealed class LinearScaleLayoutTests
{
    [TestMethod]
    [DataRow(0, 0, 0, 0L)]
    [DataRow(0, 0, 4, 4L)]
    [DataRow(0, 1, 0, 5L)]
    [DataRow(0, 2, 3, 13L)]
    [DataRow(1, 0, 0, 15L)]
    [DataRow(2, 2, 4, 44L)]
    public void OffsetIsRowMajorExpertRowBlock(int expert, int row, int block, long expected)
    {
        // 3 rows of 80 columns: 5 blocks per row, 15 per expert.
        Assert.AreEqual(expected, LinearScaleLayout.Offset(expert, row, block, 3, 80));
    }

    [TestMethod]
    public void SizesCountOneBytePerSixteenColumns()
    {
        Assert.AreEqual(5, LinearScaleLayout.Blocks(80));
        Assert.AreEqual(3L * 3 * 5, LinearScaleLayout.TotalBytes(3, 3, 80));
    }
}
