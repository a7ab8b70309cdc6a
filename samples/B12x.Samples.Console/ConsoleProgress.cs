using System;
using System.Diagnostics;
using System.IO;

namespace B12x.Samples.Console;

/// <summary>
/// A progress bar on standard error for steps that take long: nothing for the first half second (a short step shows no bar at all), then
/// <c>label [#####.....] 45% 1843/4096</c> redrawn at most ten times a second (on a terminal), or one line per 10 %
/// (when standard error is redirected). Results stay on standard output.
/// </summary>
internal sealed class ConsoleProgress : IDisposable
{
    /// <summary>Steps shorter than this finish before anyone wonders (no bar).</summary>
    private static readonly TimeSpan s_quietPeriod = TimeSpan.FromSeconds(0.5);

    /// <summary>Redraw interval on a terminal.</summary>
    private static readonly TimeSpan s_redraw = TimeSpan.FromSeconds(0.1);

    private const int BarWidth = 30;

    private readonly TextWriter _writer;
    private readonly string _label;
    private readonly long _total;
    private readonly bool _terminal;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _lastDraw = TimeSpan.MinValue;
    private int _lastDecile = -1;
    private bool _drawn;

    public ConsoleProgress(TextWriter writer, string label, long total, bool terminal)
    {
        _writer = writer;
        _label = label;
        _total = Math.Max(total, 1);
        _terminal = terminal;
    }

    /// <summary>A bar on the process's standard error.</summary>
    public static ConsoleProgress OnStandardError(string label, long total) =>
        new(System.Console.Error, label, total, terminal: !System.Console.IsErrorRedirected);

    public void Report(long done)
    {
        TimeSpan now = _clock.Elapsed;
        if (now < s_quietPeriod)
        {
            return;
        }
        int percent = (int)(100 * Math.Min(done, _total) / _total);
        if (_terminal)
        {
            if (now - _lastDraw < s_redraw && done < _total)
            {
                return;
            }
            int filled = percent * BarWidth / 100;
            _writer.Write($"\r{_label} [{new string('#', filled)}{new string('.', BarWidth - filled)}] {percent,3}% {done}/{_total}");
            _lastDraw = now;
        }
        else if (percent / 10 > _lastDecile)
        {
            _lastDecile = percent / 10;
            _writer.WriteLine($"{_label}: {percent}% ({done}/{_total})");
        }
        _drawn = true;
    }

    /// <summary>Ends the bar's line, if one was drawn.</summary>
    public void Dispose()
    {
        if (_drawn && _terminal)
        {
            _writer.WriteLine();
        }
    }
}
