using System;
using System.IO;

namespace B12x.Cli;

/// <summary>Writes each progress line to a writer as it comes (synchronously, unlike <see cref="Progress{T}"/>).</summary>
internal sealed class TextProgress(TextWriter writer, string prefix) : IProgress<string>
{
    public void Report(string value) => writer.WriteLine($"{prefix}{value}");
}
