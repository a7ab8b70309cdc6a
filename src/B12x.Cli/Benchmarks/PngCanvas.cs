using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Text;

namespace B12x.Cli.Benchmarks;

/// <summary>
/// An RGB raster (8 bits per channel, row-major, top row first) with anti-aliased lines, filled shapes and bitmap
/// text, saved as PNG. Managed code only: the benchmark machines may lack the native libraries that drawing packages
/// load. Drawing clips at the canvas edges; coordinates are in pixels with (0, 0) the top-left corner of the
/// top-left pixel, so pixel (x, y) has its centre at (x + 0.5, y + 0.5).
/// </summary>
internal sealed class PngCanvas
{
    /// <summary>The largest width or height: keeps the buffer under 1 GiB and every index in an int.</summary>
    public const int MaxSide = 16384;

    private const int Channels = 3;

    // PNG file signature, PNG specification §5.2.
    private static readonly byte[] s_signature = { 137, 80, 78, 71, 13, 10, 26, 10 };

    // CRC-32 with the reflected polynomial 0xEDB88320 (PNG specification §5.5), one table entry per byte value.
    private static readonly uint[] s_crcTable = BuildCrcTable();

    private readonly byte[] _pixels;

    /// <summary>Creates a canvas filled with <paramref name="background"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A side outside 1..<see cref="MaxSide"/>.</exception>
    public PngCanvas(int width, int height, Rgb background)
    {
        if (width is < 1 or > MaxSide)
        {
            throw new ArgumentOutOfRangeException(nameof(width), width, $"The canvas width must be in 1..{MaxSide}; got {width}.");
        }
        if (height is < 1 or > MaxSide)
        {
            throw new ArgumentOutOfRangeException(nameof(height), height, $"The canvas height must be in 1..{MaxSide}; got {height}.");
        }
        Width = width;
        Height = height;
        _pixels = new byte[width * height * Channels];
        FillRect(0, 0, width, height, background);
    }

    /// <summary>An opaque 8-bit-per-channel colour.</summary>
    public readonly record struct Rgb(byte R, byte G, byte B);

    public int Width { get; }

    public int Height { get; }

    /// <summary>The colour of pixel (<paramref name="x"/>, <paramref name="y"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A coordinate outside the canvas.</exception>
    public Rgb GetPixel(int x, int y)
    {
        if ((uint)x >= (uint)Width)
        {
            throw new ArgumentOutOfRangeException(nameof(x), x, $"x must be in 0..{Width - 1}; got {x}.");
        }
        if ((uint)y >= (uint)Height)
        {
            throw new ArgumentOutOfRangeException(nameof(y), y, $"y must be in 0..{Height - 1}; got {y}.");
        }
        int i = (y * Width + x) * Channels;
        return new Rgb(_pixels[i], _pixels[i + 1], _pixels[i + 2]);
    }

    /// <summary>Sets one pixel; a pixel outside the canvas is clipped away.</summary>
    public void SetPixel(int x, int y, Rgb colour) => Blend(x, y, colour, 1.0);

    /// <summary>Fills the rectangle with top-left pixel (<paramref name="x"/>, <paramref name="y"/>), clipped to the canvas.</summary>
    public void FillRect(int x, int y, int width, int height, Rgb colour)
    {
        int x0 = Math.Max(x, 0), y0 = Math.Max(y, 0);
        int x1 = (int)Math.Min((long)x + width, Width), y1 = (int)Math.Min((long)y + height, Height);
        for (int py = y0; py < y1; py++)
        {
            for (int px = x0; px < x1; px++)
            {
                int i = (py * Width + px) * Channels;
                _pixels[i] = colour.R;
                _pixels[i + 1] = colour.G;
                _pixels[i + 2] = colour.B;
            }
        }
    }

    /// <summary>
    /// Draws a straight anti-aliased line of <paramref name="thickness"/> pixels with round ends; dashed when
    /// <paramref name="dash"/> is positive (<paramref name="dash"/> pixels drawn, <paramref name="gap"/> skipped).
    /// </summary>
    public void DrawLine(double x0, double y0, double x1, double y1, Rgb colour, double thickness = 1, double dash = 0, double gap = 0) =>
        DrawPolyline(new[] { (x0, y0), (x1, y1) }, colour, thickness, dash, gap);

    /// <summary>
    /// Draws connected anti-aliased segments through <paramref name="points"/>; a dash pattern runs on across the
    /// corners. Each pixel is painted once with the strongest coverage of any segment, so corners and overlapping
    /// dashes do not darken.
    /// </summary>
    /// <exception cref="ArgumentException">A point with a non-finite coordinate.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A thickness outside (0, 64], a negative or non-finite dash or
    /// gap, or a dash without a gap.</exception>
    public void DrawPolyline(IReadOnlyList<(double X, double Y)> points, Rgb colour, double thickness = 1, double dash = 0, double gap = 0)
    {
        ArgumentNullException.ThrowIfNull(points);
        // 64 px is far beyond what a plot needs and bounds the work per pixel of length.
        if (!(thickness > 0 && thickness <= 64))
        {
            throw new ArgumentOutOfRangeException(nameof(thickness), thickness, $"The line thickness must be in (0, 64] pixels; got {thickness}.");
        }
        if (!(dash >= 0 && double.IsFinite(dash)))
        {
            throw new ArgumentOutOfRangeException(nameof(dash), dash, $"The dash length must be a finite number >= 0; got {dash}.");
        }
        if (!(gap >= 0 && double.IsFinite(gap)) || (dash > 0 && gap == 0))
        {
            throw new ArgumentOutOfRangeException(nameof(gap), gap, $"The gap must be finite, >= 0, and > 0 when dash > 0; got {gap} (dash {dash}).");
        }
        var coverage = new Dictionary<int, double>();
        double phase = 0;
        for (int i = 0; i < points.Count; i++)
        {
            if (!double.IsFinite(points[i].X) || !double.IsFinite(points[i].Y))
            {
                throw new ArgumentException($"Point {i} must have finite coordinates; got ({points[i].X}, {points[i].Y}).", nameof(points));
            }
            if (i == 0)
            {
                continue;
            }
            (double ax, double ay) = points[i - 1];
            (double bx, double by) = points[i];
            if (dash <= 0)
            {
                AddSegment(coverage, ax, ay, bx, by, thickness / 2);
                continue;
            }
            // Dashes are laid out only over the visible part of the segment (the phase still advances over the
            // rest), so a segment reaching far outside the canvas costs no more than one inside it.
            double length = Math.Sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay));
            double period = dash + gap;
            (double enter, double exit) = VisibleSpan(ax, ay, bx, by, thickness / 2 + 2);
            if (enter >= exit)
            {
                phase = (phase + length) % period;
                continue;
            }
            double at = enter * length, end = exit * length;
            phase = (phase + at) % period;
            while (at < end)
            {
                bool drawing = phase < dash;
                double step = Math.Min(end - at, drawing ? dash - phase : period - phase);
                if (drawing)
                {
                    double t0 = at / length, t1 = (at + step) / length;
                    AddSegment(coverage, ax + (bx - ax) * t0, ay + (by - ay) * t0, ax + (bx - ax) * t1, ay + (by - ay) * t1, thickness / 2);
                }
                at += step;
                phase = (phase + step) % period;
            }
            phase = (phase + length - end) % period;
        }
        foreach ((int index, double amount) in coverage)
        {
            Blend(index % Width, index / Width, colour, amount);
        }
    }

    /// <summary>Fills an anti-aliased disc centred at (<paramref name="cx"/>, <paramref name="cy"/>).</summary>
    public void FillCircle(double cx, double cy, double radius, Rgb colour)
    {
        if (!double.IsFinite(cx) || !double.IsFinite(cy))
        {
            throw new ArgumentException($"The centre must have finite coordinates; got ({cx}, {cy}).", double.IsFinite(cx) ? nameof(cy) : nameof(cx));
        }
        if (!(radius > 0 && radius <= MaxSide))
        {
            throw new ArgumentOutOfRangeException(nameof(radius), radius, $"The radius must be in (0, {MaxSide}] pixels; got {radius}.");
        }
        int x0 = ClampX(cx - radius - 1), x1 = ClampX(cx + radius + 1);
        int y0 = ClampY(cy - radius - 1), y1 = ClampY(cy + radius + 1);
        for (int y = y0; y <= y1; y++)
        {
            for (int x = x0; x <= x1; x++)
            {
                double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
                Blend(x, y, colour, CoverageAt(Math.Sqrt(dx * dx + dy * dy), radius));
            }
        }
    }

    /// <summary>
    /// Draws <paramref name="text"/> in the built-in 5×7 font (<see cref="BitmapFont"/>) with its top-left corner
    /// at pixel (<paramref name="x"/>, <paramref name="y"/>), each font pixel a <paramref name="scale"/>²-pixel square.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> outside 1..16.</exception>
    public void DrawText(string text, int x, int y, Rgb colour, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(text);
        // Beyond 16 the 5×7 glyphs are blocks too coarse to read as text.
        if (scale is < 1 or > 16)
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, $"The text scale must be in 1..16; got {scale}.");
        }
        for (int k = 0; k < text.Length; k++)
        {
            ReadOnlySpan<byte> rows = BitmapFont.Rows(text[k]);
            int left = x + k * BitmapFont.Advance * scale;
            for (int r = 0; r < BitmapFont.GlyphHeight; r++)
            {
                for (int c = 0; c < BitmapFont.GlyphWidth; c++)
                {
                    if ((rows[r] & (1 << (BitmapFont.GlyphWidth - 1 - c))) != 0)
                    {
                        FillRect(left + c * scale, y + r * scale, scale, scale, colour);
                    }
                }
            }
        }
    }

    /// <summary>Writes the canvas as a PNG file (8-bit truecolour, no interlacing), replacing any existing file.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using FileStream file = File.Create(path);
        WriteTo(file);
    }

    /// <summary>Writes the canvas as a PNG stream: signature, IHDR, one IDAT, IEND.</summary>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(s_signature);

        // IHDR (PNG specification §11.2.2): width, height, bit depth 8, colour type 2 (truecolour),
        // compression 0 (deflate), filter method 0, interlace 0 (none).
        var header = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(0), (uint)Width);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)Height);
        header[8] = 8;
        header[9] = 2;
        WriteChunk(stream, "IHDR", header);

        // Every scanline starts with its filter type; 0 (none) keeps the encoder simple, and deflate already
        // shrinks the long runs of a plot's flat background.
        var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            int rowBytes = Width * Channels;
            for (int y = 0; y < Height; y++)
            {
                zlib.WriteByte(0);
                zlib.Write(_pixels, y * rowBytes, rowBytes);
            }
        }
        WriteChunk(stream, "IDAT", compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        WriteChunk(stream, "IEND", ReadOnlySpan<byte>.Empty);
    }

    /// <summary>How much of a pixel a shape covers when the pixel centre lies <paramref name="distance"/> from the
    /// shape's centre line or centre, for a shape that reaches <paramref name="halfWidth"/> from it: a one-pixel ramp.</summary>
    private static double CoverageAt(double distance, double halfWidth) => Math.Clamp(halfWidth + 0.5 - distance, 0, 1);

    private static void WriteChunk(Stream stream, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        stream.Write(word);
        byte[] typeBytes = Encoding.ASCII.GetBytes(type);
        stream.Write(typeBytes);
        stream.Write(data);
        // The CRC covers the chunk type and data, not the length (PNG specification §5.3).
        uint crc = UpdateCrc(UpdateCrc(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        stream.Write(word);
    }

    private static uint UpdateCrc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
        {
            crc = s_crcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }
        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            table[n] = c;
        }
        return table;
    }

    /// <summary>
    /// The parameter range [enter, exit] of segment a→b (0 at a, 1 at b) inside the canvas grown by
    /// <paramref name="margin"/> on every side (Liang–Barsky clipping); enter ≥ exit when none of it is inside.
    /// </summary>
    private (double Enter, double Exit) VisibleSpan(double ax, double ay, double bx, double by, double margin)
    {
        double enter = 0, exit = 1;
        double dx = bx - ax, dy = by - ay;
        ReadOnlySpan<double> directions = stackalloc double[] { -dx, dx, -dy, dy };
        ReadOnlySpan<double> room = stackalloc double[] { ax + margin, Width + margin - ax, ay + margin, Height + margin - ay };
        for (int k = 0; k < 4; k++)
        {
            if (directions[k] == 0)
            {
                if (room[k] < 0)
                {
                    return (1, 0);
                }
                continue;
            }
            double t = room[k] / directions[k];
            if (directions[k] < 0)
            {
                enter = Math.Max(enter, t);
            }
            else
            {
                exit = Math.Min(exit, t);
            }
        }
        return (enter, exit);
    }

    /// <summary>Records, per pixel near the segment, the strongest coverage seen so far.</summary>
    private void AddSegment(Dictionary<int, double> coverage, double ax, double ay, double bx, double by, double halfWidth)
    {
        double dx = bx - ax, dy = by - ay;
        double lengthSquared = dx * dx + dy * dy;
        int x0 = ClampX(Math.Min(ax, bx) - halfWidth - 1), x1 = ClampX(Math.Max(ax, bx) + halfWidth + 1);
        int y0 = ClampY(Math.Min(ay, by) - halfWidth - 1), y1 = ClampY(Math.Max(ay, by) + halfWidth + 1);
        bool mostlyHorizontal = Math.Abs(dx) >= Math.Abs(dy);
        // Scan along the major axis and only the few pixels across the line at each step, so a long diagonal costs
        // its length times its width rather than its bounding box.
        int major0 = mostlyHorizontal ? x0 : y0, major1 = mostlyHorizontal ? x1 : y1;
        double majorDelta = mostlyHorizontal ? dx : dy;
        // Across the line, pixels within halfWidth of it lie within halfWidth·(length / |major delta|) of the
        // line's crossing point; +1.5 covers the anti-aliasing ramp and the pixel-centre offset.
        double reach = halfWidth * (majorDelta == 0 ? 1 : Math.Sqrt(lengthSquared) / Math.Abs(majorDelta)) + 1.5;
        for (int m = major0; m <= major1; m++)
        {
            double centre = m + 0.5;
            double across;
            if (majorDelta == 0)
            {
                across = mostlyHorizontal ? ay : ax;
            }
            else
            {
                double t = Math.Clamp((centre - (mostlyHorizontal ? ax : ay)) / majorDelta, 0, 1);
                across = mostlyHorizontal ? ay + dy * t : ax + dx * t;
            }
            int low = mostlyHorizontal ? Math.Max(y0, (int)Math.Floor(across - reach)) : Math.Max(x0, (int)Math.Floor(across - reach));
            int high = mostlyHorizontal ? Math.Min(y1, (int)Math.Ceiling(across + reach)) : Math.Min(x1, (int)Math.Ceiling(across + reach));
            for (int n = low; n <= high; n++)
            {
                int x = mostlyHorizontal ? m : n, y = mostlyHorizontal ? n : m;
                double amount = CoverageAt(DistanceToSegment(x + 0.5, y + 0.5, ax, ay, dx, dy, lengthSquared), halfWidth);
                if (amount > 0)
                {
                    int index = y * Width + x;
                    coverage[index] = Math.Max(amount, coverage.GetValueOrDefault(index));
                }
            }
        }
    }

    private static double DistanceToSegment(double px, double py, double ax, double ay, double dx, double dy, double lengthSquared)
    {
        double t = lengthSquared == 0 ? 0 : Math.Clamp(((px - ax) * dx + (py - ay) * dy) / lengthSquared, 0, 1);
        double ex = px - (ax + dx * t), ey = py - (ay + dy * t);
        return Math.Sqrt(ex * ex + ey * ey);
    }

    private int ClampX(double x) => (int)Math.Clamp(Math.Floor(x), 0, Width - 1);

    private int ClampY(double y) => (int)Math.Clamp(Math.Floor(y), 0, Height - 1);

    /// <summary>Mixes <paramref name="colour"/> into a pixel with weight <paramref name="amount"/> in [0, 1].</summary>
    private void Blend(int x, int y, Rgb colour, double amount)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height || amount <= 0)
        {
            return;
        }
        int i = (y * Width + x) * Channels;
        _pixels[i] = Mix(_pixels[i], colour.R, amount);
        _pixels[i + 1] = Mix(_pixels[i + 1], colour.G, amount);
        _pixels[i + 2] = Mix(_pixels[i + 2], colour.B, amount);
    }

    private static byte Mix(byte under, byte over, double amount) =>
        amount >= 1 ? over : (byte)Math.Round(under + (over - under) * amount);
}
