using System.CommandLine;

namespace B12x.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var root = new RootCommand("b12x: fused NVFP4 Mixture-of-Experts layers for .NET.");
        root.Add(Commands.BenchCommand.Create());
        return root.Parse(args).Invoke();
    }
}
