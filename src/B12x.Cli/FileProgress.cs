using System;
using System.IO;

namespace B12x.Cli;

/// <summary>
/// Reports the progress of writing one file as "writing NAME: P% (X of Y MiB)" lines, every 10 %, for files of at
/// least <see cref="MinimumBytes"/> (smaller files are written too quickly to need it).
/// </summary>
internal sealed class FileProgress(TextWriter writer, string name, long totalBytes) : IProgress<long>
{
    /// <summary>64 MiB: below this a file is written in well under a second.</summary>
    public const long MinimumBytes = 64L << 20;

    private const int StepPercent = 10;

    private int _reportedPercent;

    public void Report(long value)
    {
        if (totalBytes < MinimumBytes)
        {
            return;
        }
        int percent = (int)(100 * value / totalBytes);
        if (percent >= _reportedPercent + StepPercent)
        {
            _reportedPercent = percent / StepPercent * StepPercent;
            writer.WriteLine($"writing {name}: {_reportedPercent}% ({value >> 20} of {totalBytes >> 20} MiB)");
        }
    }
}
