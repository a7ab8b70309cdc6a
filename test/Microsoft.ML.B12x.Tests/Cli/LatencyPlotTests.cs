using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using B12x.Cli.Benchmarks;
using Microsoft.ML.B12x.Tests.Infrastructure;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using Rgb = B12x.Cli.Benchmarks.PngCanvas.Rgb;

namespace Microsoft.ML.B12x.Tests.Cli;

[TestClass]
public sealed class LatencyPlotTests
{
    // PNG specification §5.2.
    private static readonly byte[] s_pngSignature = { 137, 80, 78, 71, 13, 10, 26, 10 };

    private static readonly Rgb s_white = new(255, 255, 255);
    private static readonly Rgb s_red = new(200, 20, 20);

    [TestMethod]
    public void WrittenFileStartsWithThePngSignature()
    {
        byte[] file = WritePlot(TwoShapes());

        CollectionAssert.AreEqual(s_pngSignature, file.Take(s_pngSignature.Length).ToArray());
    }

    [TestMethod]
    public void HeaderChunkComesFirstAndDeclaresThePlotSizeAsEightBitTruecolour()
    {
        List<Chunk> chunks = ReadChunks(WritePlot(TwoShapes()));

        Chunk header = chunks[0];
        Assert.AreEqual("IHDR", header.Type);
        Assert.AreEqual(13, header.Data.Length);
        Assert.AreEqual((uint)LatencyPlot.Width, BinaryPrimitives.ReadUInt32BigEndian(header.Data.AsSpan(0)));
        Assert.AreEqual((uint)LatencyPlot.Height, BinaryPrimitives.ReadUInt32BigEndian(header.Data.AsSpan(4)));
        // Bit depth 8, colour type 2 (RGB), deflate compression, filter method 0, no interlacing.
        CollectionAssert.AreEqual(new byte[] { 8, 2, 0, 0, 0 }, header.Data[8..]);
    }

    [TestMethod]
    public void EveryChunkCarriesTheCrc32OfItsTypeAndData()
    {
        List<Chunk> chunks = ReadChunks(WritePlot(TwoShapes()));

        Assert.AreEqual("IEND", chunks[^1].Type);
        Assert.IsTrue(chunks.Any(c => c.Type == "IDAT"), string.Join(",", chunks.Select(c => c.Type)));
        foreach (Chunk chunk in chunks)
        {
            uint expected = ReferenceCrc32(Encoding.ASCII.GetBytes(chunk.Type).Concat(chunk.Data).ToArray());
            Assert.AreEqual(expected, chunk.Crc, $"CRC of chunk {chunk.Type}");
        }
    }

    [TestMethod]
    public void ReferenceCrcMatchesTheWellKnownCrcOfTheEndChunk()
    {
        // Every PNG ends with the bytes AE 42 60 82: the CRC of the type "IEND" with no data. This pins the test's
        // own CRC before it judges the encoder's.
        Assert.AreEqual(0xAE426082u, ReferenceCrc32(Encoding.ASCII.GetBytes("IEND")));
    }

    [TestMethod]
    public void ImageDataInflatesToOneFilterBytePlusOneRowOfPixelsPerLine()
    {
        List<Chunk> chunks = ReadChunks(WritePlot(TwoShapes()));

        byte[] raw = Inflate(chunks);

        Assert.AreEqual(LatencyPlot.Height * (1 + LatencyPlot.Width * 3), raw.Length);
    }

    [TestMethod]
    public void DecodedImageEqualsTheCanvasPixelByPixel()
    {
        var canvas = new PngCanvas(7, 5, s_white);
        canvas.SetPixel(0, 0, s_red);
        canvas.SetPixel(6, 4, new Rgb(1, 2, 3));
        canvas.FillRect(2, 1, 3, 2, new Rgb(10, 200, 90));
        using var directory = new TemporaryDirectory();
        canvas.Save(directory.File("small.png"));

        Rgb[,] decoded = Decode(File.ReadAllBytes(directory.File("small.png")));

        Assert.AreEqual((7, 5), (decoded.GetLength(0), decoded.GetLength(1)));
        for (int y = 0; y < 5; y++)
        {
            for (int x = 0; x < 7; x++)
            {
                Assert.AreEqual(canvas.GetPixel(x, y), decoded[x, y], $"pixel ({x}, {y})");
            }
        }
        Assert.AreEqual(new Rgb(10, 200, 90), decoded[3, 2]);
    }

    [TestMethod]
    public void HorizontalLineColoursThePixelsOnItAndNotThoseBesideIt()
    {
        var canvas = new PngCanvas(100, 40, s_white);

        // y = 20.5 is the centre line of pixel row 20.
        canvas.DrawLine(10, 20.5, 90, 20.5, s_red);

        Assert.AreEqual(s_red, canvas.GetPixel(50, 20));
        Assert.AreEqual(s_white, canvas.GetPixel(50, 22));
        Assert.AreEqual(s_white, canvas.GetPixel(50, 18));
        Assert.AreEqual(s_white, canvas.GetPixel(95, 20));
    }

    [TestMethod]
    public void DiagonalLineColoursThePixelsItCrossesAndNotThoseAwayFromIt()
    {
        var canvas = new PngCanvas(40, 40, s_white);

        canvas.DrawLine(0.5, 0.5, 30.5, 30.5, s_red, thickness: 2);

        Assert.AreEqual(s_red, canvas.GetPixel(15, 15));
        Assert.AreEqual(s_white, canvas.GetPixel(15, 20));
        Assert.AreEqual(s_white, canvas.GetPixel(20, 15));
    }

    [TestMethod]
    public void DashedLineAlternatesDrawnAndEmptyStretches()
    {
        var canvas = new PngCanvas(100, 10, s_white);

        canvas.DrawLine(0, 5.5, 100, 5.5, s_red, thickness: 1, dash: 10, gap: 10);

        // Dashes cover x in [0, 10), [20, 30), ...; gaps [10, 20), [30, 40), ...
        Assert.AreEqual(s_red, canvas.GetPixel(5, 5));
        Assert.AreEqual(s_red, canvas.GetPixel(25, 5));
        Assert.AreEqual(s_white, canvas.GetPixel(15, 5));
        Assert.AreEqual(s_white, canvas.GetPixel(35, 5));
    }

    [TestMethod]
    public void DashPatternRunsOnAcrossTheCornersOfAPolyline()
    {
        var canvas = new PngCanvas(100, 40, s_white);

        // The first segment is 15.5 px long: a 10 px dash, then 5.5 px of gap; the gap runs on 4.5 px into the
        // second segment, where the second dash starts at y = 10.
        canvas.DrawPolyline(new[] { (0.0, 5.5), (15.5, 5.5), (15.5, 35.5) }, s_red, thickness: 1, dash: 10, gap: 10);

        Assert.AreEqual(s_white, canvas.GetPixel(15, 7), "still in the first gap");
        Assert.AreEqual(s_red, canvas.GetPixel(15, 15), "inside the second dash");
    }

    [TestMethod]
    public void TextInksPixelsOnlyInsideItsBox()
    {
        var canvas = new PngCanvas(60, 30, s_white);

        canvas.DrawText("T1", 10, 5, s_red, scale: 2);

        int width = BitmapFont.MeasureWidth("T1", 2), height = BitmapFont.GlyphHeight * 2;
        int inside = 0, outside = 0;
        for (int y = 0; y < 30; y++)
        {
            for (int x = 0; x < 60; x++)
            {
                bool inBox = x >= 10 && x < 10 + width && y >= 5 && y < 5 + height;
                bool inked = canvas.GetPixel(x, y) == s_red;
                inside += inBox && inked ? 1 : 0;
                outside += !inBox && inked ? 1 : 0;
            }
        }
        Assert.AreEqual(0, outside);
        // The top bar of 'T' is 5 font pixels of 2×2 screen pixels.
        Assert.IsGreaterThanOrEqualTo(20, inside);
        Assert.AreEqual(s_red, canvas.GetPixel(10, 5), "top-left of the T's bar");
    }

    [TestMethod]
    public void EveryCharacterOfTheLabelsHasItsOwnGlyph()
    {
        byte[] missing = BitmapFont.Rows('\u2603').ToArray();
        const string Needed = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-.,%/():=_ \u00B5\u03BC";

        foreach (char c in Needed)
        {
            CollectionAssert.AreNotEqual(missing, BitmapFont.Rows(c).ToArray(), $"'{c}' has no glyph");
        }
    }

    [TestMethod]
    public void EachSeriesIsDrawnInItsOwnColour()
    {
        PngCanvas canvas = LatencyPlot.Render("two shapes", TwoShapes());

        int first = CountPixels(canvas, LatencyPlot.SeriesColour(0));
        int second = CountPixels(canvas, LatencyPlot.SeriesColour(1));

        Assert.AreNotEqual(LatencyPlot.SeriesColour(0), LatencyPlot.SeriesColour(1));
        // Lines 2 px wide across hundreds of pixels plus markers: far more than a legend sample alone.
        Assert.IsGreaterThan(500, first);
        Assert.IsGreaterThan(500, second);
    }

    [TestMethod]
    public void BoundAloneIsStillDrawn()
    {
        var series = new[] { new LatencySeries("bound-only", Array.Empty<(int, double)>(), new[] { (1, 5.0), (16384, 900.0) }) };

        PngCanvas canvas = LatencyPlot.Render("bound", series);

        Assert.IsGreaterThan(200, CountPixels(canvas, LatencyPlot.SeriesColour(0)));
    }

    [TestMethod]
    [DataRow(0, 10.0)]
    [DataRow(-4, 10.0)]
    [DataRow(8, 0.0)]
    [DataRow(8, -1.0)]
    [DataRow(8, double.NaN)]
    [DataRow(8, double.PositiveInfinity)]
    public void RejectsAPointThatLogAxesCannotPlace(int tokens, double micros)
    {
        var series = new[] { new LatencySeries("bad", new[] { (1, 10.0), (tokens, micros) }, Array.Empty<(int, double)>()) };

        ArgumentException e = Assert.ThrowsExactly<ArgumentException>(() => LatencyPlot.Render("t", series));

        Assert.AreEqual("series", e.ParamName);
        Assert.Contains("'bad'", e.Message);
    }

    [TestMethod]
    public void RejectsSeriesWithoutAnyPoint()
    {
        var series = new[] { new LatencySeries("empty", Array.Empty<(int, double)>(), Array.Empty<(int, double)>()) };

        ArgumentException e = Assert.ThrowsExactly<ArgumentException>(() => LatencyPlot.Render("t", series));

        Assert.AreEqual("series", e.ParamName);
    }

    [TestMethod]
    public void RejectsAnEmptySeriesList()
    {
        ArgumentException e = Assert.ThrowsExactly<ArgumentException>(() => LatencyPlot.Render("t", Array.Empty<LatencySeries>()));

        Assert.AreEqual("series", e.ParamName);
    }

    [TestMethod]
    [DataRow(0, 10)]
    [DataRow(10, 0)]
    [DataRow(PngCanvas.MaxSide + 1, 10)]
    public void CanvasRejectsSidesOutsideTheSupportedRange(int width, int height)
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new PngCanvas(width, height, s_white));
    }

    [TestMethod]
    public void LineRejectsNonFiniteCoordinates()
    {
        var canvas = new PngCanvas(10, 10, s_white);

        ArgumentException e = Assert.ThrowsExactly<ArgumentException>(() => canvas.DrawLine(0, 0, double.NaN, 5, s_red));

        Assert.AreEqual("points", e.ParamName);
    }

    private sealed record Chunk(string Type, byte[] Data, uint Crc);

    private static LatencySeries[] TwoShapes() => new[]
    {
        new LatencySeries(
            "qwen3-30b-a3b",
            new[] { (1, 14.0), (16, 30.0), (256, 95.0), (4096, 900.0), (16384, 3300.0) },
            new[] { (1, 6.0), (16, 12.0), (256, 60.0), (4096, 700.0), (16384, 2800.0) }),
        new LatencySeries(
            "deepseek-v3",
            new[] { (64, 400.0), (1, 80.0), (1024, 2100.0) },
            new[] { (1, 70.0), (64, 310.0), (1024, 1500.0) }),
    };

    private static byte[] WritePlot(IReadOnlyList<LatencySeries> series)
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("latency.png");
        LatencyPlot.Write(path, "b12x latency (us)", series);
        return File.ReadAllBytes(path);
    }

    /// <summary>Splits a PNG file after its signature into length-type-data-CRC chunks.</summary>
    private static List<Chunk> ReadChunks(byte[] file)
    {
        var chunks = new List<Chunk>();
        int at = s_pngSignature.Length;
        while (at < file.Length)
        {
            int length = checked((int)BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(at)));
            string type = Encoding.ASCII.GetString(file, at + 4, 4);
            byte[] data = file.AsSpan(at + 8, length).ToArray();
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(at + 8 + length));
            chunks.Add(new Chunk(type, data, crc));
            at += 12 + length;
        }
        Assert.AreEqual(file.Length, at, "chunks end exactly at the end of the file");
        return chunks;
    }

    /// <summary>CRC-32 (reflected polynomial 0xEDB88320) one bit at a time, as the PNG specification defines it.</summary>
    private static uint ReferenceCrc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) == 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }
        return ~crc;
    }

    private static byte[] Inflate(List<Chunk> chunks)
    {
        byte[] compressed = chunks.Where(c => c.Type == "IDAT").SelectMany(c => c.Data).ToArray();
        using var zlib = new ZLibStream(new MemoryStream(compressed), CompressionMode.Decompress);
        var raw = new MemoryStream();
        zlib.CopyTo(raw);
        return raw.ToArray();
    }

    /// <summary>Decodes an 8-bit RGB PNG, undoing any of the five scanline filters (PNG specification §9.2).</summary>
    private static Rgb[,] Decode(byte[] file)
    {
        List<Chunk> chunks = ReadChunks(file);
        int width = (int)BinaryPrimitives.ReadUInt32BigEndian(chunks[0].Data.AsSpan(0));
        int height = (int)BinaryPrimitives.ReadUInt32BigEndian(chunks[0].Data.AsSpan(4));
        byte[] raw = Inflate(chunks);
        const int Bpp = 3;
        int stride = width * Bpp;
        var previous = new byte[stride];
        var pixels = new Rgb[width, height];
        for (int y = 0; y < height; y++)
        {
            byte filter = raw[y * (stride + 1)];
            var row = raw.AsSpan(y * (stride + 1) + 1, stride).ToArray();
            for (int i = 0; i < stride; i++)
            {
                int left = i >= Bpp ? row[i - Bpp] : 0, up = previous[i], upLeft = i >= Bpp ? previous[i - Bpp] : 0;
                int predictor = filter switch
                {
                    0 => 0,
                    1 => left,
                    2 => up,
                    3 => (left + up) / 2,
                    4 => Paeth(left, up, upLeft),
                    _ => throw new AssertFailedException($"Row {y} has filter type {filter}; PNG defines 0..4."),
                };
                row[i] = (byte)(row[i] + predictor);
            }
            for (int x = 0; x < width; x++)
            {
                pixels[x, y] = new Rgb(row[x * Bpp], row[x * Bpp + 1], row[x * Bpp + 2]);
            }
            previous = row;
        }
        return pixels;
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static int CountPixels(PngCanvas canvas, Rgb colour)
    {
        int count = 0;
        for (int y = 0; y < canvas.Height; y++)
        {
            for (int x = 0; x < canvas.Width; x++)
            {
                count += canvas.GetPixel(x, y) == colour ? 1 : 0;
            }
        }
        return count;
    }
}
