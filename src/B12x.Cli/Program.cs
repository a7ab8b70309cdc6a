using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.IO;
using System.Linq;
using B12x.Cli.Commands;
using Microsoft.ML.B12x;

namespace B12x.Cli;

/// <summary>
/// The <c>b12x</c> command. <see cref="Run"/> is the whole program with its output streams as arguments, so tests run
/// commands in-process. Exit codes: <see cref="ExitCodes"/>. Every error is one line on the error stream (the full
/// exception with <c>--verbose</c>).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        B12xOps.Logger = new TextWriterLogger(Console.Error);
        return Run(args, Console.Out, Console.Error);
    }

    /// <summary>Parses and runs one command line, writing results to <paramref name="output"/> and errors to <paramref name="error"/>.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        Option<bool> verbose = CommonOptions.Verbose();
        RootCommand root = CreateRootCommand(verbose);
        ParseResult parse = root.Parse(args);
        string command = string.Join(" ", new[] { "b12x" }.Concat(CommandPath(parse)));
        if (parse.Errors.Count > 0 && !(parse.Action?.ClearsParseErrors ?? false))
        {
            string messages = string.Join(" ", parse.Errors.Select(e => e.Message.TrimEnd('.') + "."));
            error.WriteLine($"{command}: error: {OneLine(messages)} See '{command} --help'.");
            return ExitCodes.Usage;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error.WriteLine(parse.GetValue(verbose) ? $"{command}: error: {e}" : $"{command}: error: {OneLine(CommonOptions.MessageOf(e))}");
            return ExitCodes.Failure;
        }
    }

    /// <summary>The command tree (built per call: System.CommandLine symbols hold their parents, so they are not shared).</summary>
    private static RootCommand CreateRootCommand(Option<bool> verbose)
    {
        var root = new RootCommand("b12x: run, inspect, synthesise, import and quantise fused NVFP4 Mixture-of-Experts layers (safetensors files).");
        root.Options.Add(verbose);
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(SynthCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ImportCommand.Create());
        root.Subcommands.Add(QuantizeCommand.Create());
        return root;
    }

    private static List<string> CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (SymbolResult? result = parse.CommandResult; result is not null; result = result.Parent)
        {
            if (result is CommandResult { Command: not RootCommand } commandResult)
            {
                names.Insert(0, commandResult.Command.Name);
            }
        }
        return names;
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
