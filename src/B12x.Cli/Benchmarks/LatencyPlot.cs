using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Rgb = B12x.Cli.Benchmarks.PngCanvas.Rgb;

namespace B12x.Cli.Benchmarks;

/// <summary>
/// Draws latency against token count on log-log axes as a PNG: per series, the measured points as a solid line with
/// markers and the lower bound as a dashed line of the same colour, with decade grid lines, a legend and a title.
/// </summary>
internal static class LatencyPlot
{
    /// <summary>Image size in pixels.</summary>
    public const int Width = 1200, Height = 800;

    /// <summary>The x axis spans at least 1..16384 tokens, the benchmark's token sweep (docs/performance.md).</summary>
    public const int MinTokensAxis = 1, MaxTokensAxis = 16384;

    // Plot area in pixels; the margins hold the title (top), tick labels (left, bottom) and the legend (right).
    private const int PlotLeft = 100, PlotTop = 80, PlotRight = 900, PlotBottom = 710;
    private const int LegendLeft = 930;

    // Scales of the 5×7 font: 3 for the title, 2 for every other label.
    private const int TitleScale = 3, LabelScale = 2;

    private const double LineThickness = 2, MarkerRadius = 3.5, Dash = 9, Gap = 6;

    private static readonly Rgb s_background = new(255, 255, 255);
    private static readonly Rgb s_ink = new(30, 30, 30);
    private static readonly Rgb s_frame = new(90, 90, 90);
    private static readonly Rgb s_decadeGrid = new(200, 200, 200);
    private static readonly Rgb s_minorGrid = new(236, 236, 236);

    // Ten well-separated hues, the common "category 10" plotting palette; series beyond ten reuse them in order.
    private static readonly Rgb[] s_palette =
    {
        new(31, 119, 180), new(255, 127, 14), new(44, 160, 44), new(214, 39, 40), new(148, 103, 189),
        new(140, 86, 75), new(227, 119, 194), new(127, 127, 127), new(188, 189, 34), new(23, 190, 207),
    };

    /// <summary>Renders the plot (<see cref="Render"/>) and saves it as a PNG file at <paramref name="path"/>.</summary>
    /// <exception cref="ArgumentException">See <see cref="Render"/>.</exception>
    public static void Write(string path, string title, IReadOnlyList<LatencySeries> series)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Render(title, series).Save(path);
    }

    /// <summary>The colour of the series at <paramref name="index"/> in the order given to <see cref="Render"/>.</summary>
    public static Rgb SeriesColour(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return s_palette[index % s_palette.Length];
    }

    /// <summary>
    /// Draws the plot on a <see cref="Width"/>×<see cref="Height"/> canvas. The x axis runs from 1 to 16384 tokens, or
    /// further when a point has more tokens; the y axis covers the decades that hold every point.
    /// </summary>
    /// <exception cref="ArgumentException">No series, no point at all, a null series, name or point list, a token count
    /// below 1, or a latency that is not a positive finite number (log axes cannot place it).</exception>
    public static PngCanvas Render(string title, IReadOnlyList<LatencySeries> series)
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(series);
        Validate(series);

        IEnumerable<(int Tokens, double Micros)> all = series.SelectMany(s => s.Measured.Concat(s.Bound));
        int maxTokens = Math.Max(MaxTokensAxis, all.Max(p => p.Tokens));
        // Small slack keeps an exact power of ten (whose logarithm may round just above or below the integer) from
        // adding an empty decade.
        int lowDecade = (int)Math.Floor(Math.Log10(all.Min(p => p.Micros)) + 1e-9);
        int highDecade = Math.Max(lowDecade + 1, (int)Math.Ceiling(Math.Log10(all.Max(p => p.Micros)) - 1e-9));
        var axes = new Axes(Math.Log10(maxTokens), lowDecade, highDecade);

        var canvas = new PngCanvas(Width, Height, s_background);
        DrawGrid(canvas, axes);
        for (int i = 0; i < series.Count; i++)
        {
            DrawSeries(canvas, axes, series[i], SeriesColour(i));
        }
        DrawFrame(canvas);
        DrawTitle(canvas, title);
        DrawLegend(canvas, series);
        return canvas;
    }

    private static void Validate(IReadOnlyList<LatencySeries> series)
    {
        if (series.Count == 0)
        {
            throw new ArgumentException("A latency plot needs at least one series; got none.", nameof(series));
        }
        int points = 0;
        for (int i = 0; i < series.Count; i++)
        {
            LatencySeries s = series[i] ?? throw new ArgumentException($"Series {i} is null.", nameof(series));
            if (s.Name is null)
            {
                throw new ArgumentException($"Series {i} has a null name.", nameof(series));
            }
            ValidatePoints(s, nameof(LatencySeries.Measured), s.Measured, nameof(series));
            ValidatePoints(s, nameof(LatencySeries.Bound), s.Bound, nameof(series));
            points += s.Measured.Count + s.Bound.Count;
        }
        if (points == 0)
        {
            throw new ArgumentException($"A latency plot needs at least one point; the {series.Count} series have none.", nameof(series));
        }
    }

    private static void ValidatePoints(LatencySeries s, string role, IReadOnlyList<(int Tokens, double Micros)>? points, string paramName)
    {
        if (points is null)
        {
            throw new ArgumentException($"Series '{s.Name}' has no {role} list (null); pass an empty list instead.", paramName);
        }
        for (int k = 0; k < points.Count; k++)
        {
            (int tokens, double micros) = points[k];
            if (tokens < MinTokensAxis)
            {
                throw new ArgumentException($"Series '{s.Name}' {role} point {k}: tokens must be >= {MinTokensAxis}; got {tokens}.", paramName);
            }
            if (!(micros > 0 && double.IsFinite(micros)))
            {
                throw new ArgumentException($"Series '{s.Name}' {role} point {k}: microseconds must be a positive finite number; got {micros}.", paramName);
            }
        }
    }

    private static void DrawGrid(PngCanvas canvas, Axes axes)
    {
        // Vertical lines: every 1..9 × 10^k tokens, decades darker and labelled.
        for (int k = 0; k <= (int)Math.Floor(axes.LogMaxTokens + 1e-9); k++)
        {
            for (int m = 1; m <= 9; m++)
            {
                double tokens = m * Math.Pow(10, k);
                if (Math.Log10(tokens) > axes.LogMaxTokens + 1e-9)
                {
                    break;
                }
                int x = (int)Math.Round(axes.X(tokens));
                canvas.FillRect(x, PlotTop, 1, PlotBottom - PlotTop, m == 1 ? s_decadeGrid : s_minorGrid);
                if (m == 1)
                {
                    string label = FormatDecade(k);
                    canvas.DrawText(label, x - BitmapFont.MeasureWidth(label, LabelScale) / 2, PlotBottom + 10, s_ink, LabelScale);
                }
            }
        }
        // Horizontal lines: every 1..9 × 10^k microseconds over the plotted decades. A very wide range would crowd
        // them, so minor lines need 40 px per decade and labels are thinned to one per label height plus 8 px.
        double decadePixels = (double)(PlotBottom - PlotTop) / (axes.HighDecade - axes.LowDecade);
        int minorLines = decadePixels >= 40 ? 9 : 1;
        int labelEvery = (int)Math.Ceiling((BitmapFont.CapHeight * LabelScale + 8) / decadePixels);
        for (int k = axes.LowDecade; k <= axes.HighDecade; k++)
        {
            for (int m = 1; m <= (k == axes.HighDecade ? 1 : minorLines); m++)
            {
                int y = (int)Math.Round(axes.Y(m * Math.Pow(10, k)));
                canvas.FillRect(PlotLeft, y, PlotRight - PlotLeft, 1, m == 1 ? s_decadeGrid : s_minorGrid);
                if (m == 1 && (k - axes.LowDecade) % labelEvery == 0)
                {
                    string label = FormatDecade(k);
                    int glyphHalfHeight = BitmapFont.CapHeight * LabelScale / 2;
                    canvas.DrawText(label, PlotLeft - 10 - BitmapFont.MeasureWidth(label, LabelScale), y - glyphHalfHeight, s_ink, LabelScale);
                }
            }
        }
        const string XTitle = "tokens";
        canvas.DrawText(XTitle, (PlotLeft + PlotRight - BitmapFont.MeasureWidth(XTitle, LabelScale)) / 2, PlotBottom + 40, s_ink, LabelScale);
        // Above the y axis rather than rotated beside it: the bitmap font draws horizontal text only.
        const string YTitle = "latency (\u00B5s)";
        canvas.DrawText(YTitle, 10, PlotTop - 36, s_ink, LabelScale);
    }

    private static void DrawSeries(PngCanvas canvas, Axes axes, LatencySeries s, Rgb colour)
    {
        (double X, double Y)[] bound = ToPixels(axes, s.Bound);
        canvas.DrawPolyline(bound, colour, LineThickness, Dash, Gap);
        (double X, double Y)[] measured = ToPixels(axes, s.Measured);
        canvas.DrawPolyline(measured, colour, LineThickness);
        foreach ((double x, double y) in measured)
        {
            canvas.FillCircle(x, y, MarkerRadius, colour);
        }
    }

    /// <summary>Pixel positions sorted by token count, so a line runs left to right whatever the input order.</summary>
    private static (double X, double Y)[] ToPixels(Axes axes, IReadOnlyList<(int Tokens, double Micros)> points) =>
        points.OrderBy(p => p.Tokens).Select(p => (axes.X(p.Tokens), axes.Y(p.Micros))).ToArray();

    private static void DrawFrame(PngCanvas canvas)
    {
        canvas.FillRect(PlotLeft, PlotTop, PlotRight - PlotLeft + 1, 1, s_frame);
        canvas.FillRect(PlotLeft, PlotBottom, PlotRight - PlotLeft + 1, 1, s_frame);
        canvas.FillRect(PlotLeft, PlotTop, 1, PlotBottom - PlotTop + 1, s_frame);
        canvas.FillRect(PlotRight, PlotTop, 1, PlotBottom - PlotTop + 1, s_frame);
    }

    private static void DrawTitle(PngCanvas canvas, string title)
    {
        // A title too wide for the large font drops to the label size before it is clipped at the edges.
        int scale = BitmapFont.MeasureWidth(title, TitleScale) <= Width - 20 ? TitleScale : LabelScale;
        canvas.DrawText(title, (Width - BitmapFont.MeasureWidth(title, scale)) / 2, 12, s_ink, scale);
    }

    private static void DrawLegend(PngCanvas canvas, IReadOnlyList<LatencySeries> series)
    {
        const int RowHeight = 26, SampleLength = 36;
        int textLeft = LegendLeft + SampleLength + 10;
        int glyphHalfHeight = BitmapFont.CapHeight * LabelScale / 2;
        int y = PlotTop + 10;
        for (int i = 0; i < series.Count; i++, y += RowHeight)
        {
            Rgb colour = SeriesColour(i);
            canvas.DrawLine(LegendLeft, y + 0.5, LegendLeft + SampleLength, y + 0.5, colour, LineThickness);
            canvas.FillCircle(LegendLeft + SampleLength / 2.0, y + 0.5, MarkerRadius, colour);
            canvas.DrawText(series[i].Name, textLeft, y - glyphHalfHeight, s_ink, LabelScale);
        }
        // The key to the two line styles, in neutral ink.
        y += RowHeight / 2;
        canvas.DrawLine(LegendLeft, y + 0.5, LegendLeft + SampleLength, y + 0.5, s_ink, LineThickness);
        canvas.FillCircle(LegendLeft + SampleLength / 2.0, y + 0.5, MarkerRadius, s_ink);
        canvas.DrawText("measured", textLeft, y - glyphHalfHeight, s_ink, LabelScale);
        y += RowHeight;
        canvas.DrawLine(LegendLeft, y + 0.5, LegendLeft + SampleLength, y + 0.5, s_ink, LineThickness, Dash, Gap);
        canvas.DrawText("lower bound", textLeft, y - glyphHalfHeight, s_ink, LabelScale);
    }

    /// <summary>
    /// 10^k as plain decimal digits from 0.001 to 100000 ("0.01", "1", "1000"), as "1e-4" or "1e6" beyond, where
    /// the digits would outgrow the label margin: the font has no superscripts.
    /// </summary>
    private static string FormatDecade(int k) => k switch
    {
        > 5 or < -3 => "1e" + k.ToString(CultureInfo.InvariantCulture),
        >= 0 => "1" + new string('0', k),
        _ => "0." + new string('0', -k - 1) + "1",
    };

    /// <summary>Maps tokens and microseconds to pixel coordinates of the plot area (log10 on both axes).</summary>
    private readonly record struct Axes(double LogMaxTokens, int LowDecade, int HighDecade)
    {
        public double X(double tokens) => PlotLeft + Math.Log10(tokens) / LogMaxTokens * (PlotRight - PlotLeft);

        public double Y(double micros) =>
            PlotBottom - (Math.Log10(micros) - LowDecade) / (HighDecade - LowDecade) * (PlotBottom - PlotTop);
    }
}
