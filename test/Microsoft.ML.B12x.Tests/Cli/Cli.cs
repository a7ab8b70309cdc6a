using System.IO;
using B12x.Cli;

namespace Microsoft.ML.B12x.Tests.Cli;

/// <summary>Runs the b12x command line in-process and captures what it writes.</summary>
internal static class Cli
{
    public static CliResult Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = Program.Run(args, output, error);
        return new CliResult(exitCode, output.ToString(), error.ToString());
    }
}

/// <summary>Exit code, standard output and standard error of one command.</summary>
internal sealed record CliResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Output}--- stderr\n{Error}";
}
