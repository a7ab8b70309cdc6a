using System;
using System.IO;
using Microsoft.Extensions.Logging;

namespace B12x.Cli;

/// <summary>Writes the library's log messages of level Information and above as "b12x: level: message" lines.</summary>
internal sealed class TextWriterLogger(TextWriter writer) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            writer.WriteLine($"b12x: {logLevel.ToString().ToLowerInvariant()}: {formatter(state, exception).ReplaceLineEndings(" ")}");
        }
    }
}
