using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Samples;

/// <summary>
/// Runs the C# cells of samples/notebooks/FusedMoe.ipynb in order, as one script session (Roslyn scripting, as the
/// .NET Interactive C# kernel does), in this process: with the built Microsoft.ML.B12x.dll and the LibTorch natives
/// the tests use, offline. <c>#r</c> directives are checked (each names an assembly this test has) and resolved to
/// this test's copies; <c>display</c> and <c>HTML</c>, the kernel's helpers, are provided by <see cref="NotebookGlobals"/>.
/// </summary>
[TestClass]
public sealed class NotebookTests
{
    private static readonly Regex s_reference = new(@"^#r\s+""(?<target>[^""]+)""\s*$", RegexOptions.Compiled);

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task TheFusedMoeNotebookRunsFromTopToBottom()
    {
        string notebook = Path.Combine(RepositoryRoot(), "samples", "notebooks", "FusedMoe.ipynb");
        List<string> cells = CodeCells(notebook);
        Assert.IsGreaterThanOrEqualTo(4, cells.Count, "the notebook has its code cells");
        var references = new List<Assembly>
        {
            typeof(MoeWeights).Assembly, typeof(global::TorchSharp.torch).Assembly, typeof(MLContext).Assembly,
            typeof(IDataView).Assembly, typeof(ScottPlot.Plot).Assembly, typeof(NotebookGlobals).Assembly,
        };
        var globals = new NotebookGlobals();
        ScriptState<object>? state = null;
        for (int i = 0; i < cells.Count; i++)
        {
            string code = Resolve(cells[i], references, i);
            ScriptOptions options = ScriptOptions.Default
                .WithReferences(references.Concat(AppDomain.CurrentDomain.GetAssemblies().Where(a => !a.IsDynamic && a.Location != "")).Distinct())
                .WithFilePath(notebook);
            state = state is null
                ? await CSharpScript.RunAsync(code, options, globals, typeof(NotebookGlobals))
                : await state.ContinueWithAsync(code, options);
        }

        string output = string.Join("\n", globals.Displayed);
        StringAssert.Contains(output, "<img src=\"data:image/png;base64,");
        string png = Path.Combine(Path.GetTempPath(), "b12x-notebook", "fused-moe-error.png");
        CollectionAssert.AreEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png).Take(4).ToArray());
        double[] nvfp4 = (double[])state!.GetVariable("nvfp4Errors").Value;
        double[] w4a16 = (double[])state.GetVariable("w4a16Errors").Value;
        Assert.HasCount(256, nvfp4);
        Assert.IsTrue(nvfp4.All(double.IsFinite) && w4a16.All(double.IsFinite));
        Assert.IsGreaterThan(w4a16.Average(), nvfp4.Average(), "quantising the activations too adds error");
    }

    /// <summary>The source of every C# code cell, in order.</summary>
    private static List<string> CodeCells(string path)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(path));
        var cells = new List<string>();
        foreach (JsonElement cell in document.RootElement.GetProperty("cells").EnumerateArray())
        {
            if (cell.GetProperty("cell_type").GetString() != "code")
            {
                continue;
            }
            string language = cell.GetProperty("metadata").GetProperty("dotnet_interactive").GetProperty("language").GetString()!;
            Assert.AreEqual("csharp", language, "every code cell is C#");
            cells.Add(string.Concat(cell.GetProperty("source").EnumerateArray().Select(line => line.GetString())));
        }
        return cells;
    }

    /// <summary>
    /// Replaces each <c>#r</c> line by a blank line (keeping line numbers) after checking what it names: a package this
    /// test references, or a DLL that is in this test's output folder (the library and its dependencies, built here).
    /// </summary>
    private static string Resolve(string cell, List<Assembly> references, int index)
    {
        string[] lines = cell.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            Match match = s_reference.Match(lines[i].TrimEnd('\r'));
            if (!match.Success)
            {
                continue;
            }
            string target = match.Groups["target"].Value;
            string assembly = target.StartsWith("nuget:", StringComparison.Ordinal)
                ? target["nuget:".Length..].Split(',')[0].Trim()
                : Path.GetFileNameWithoutExtension(target);
            string local = Path.Combine(AppContext.BaseDirectory, assembly + ".dll");
            Assert.IsTrue(File.Exists(local), $"cell {index}: '#r \"{target}\"' names {assembly}, which this test does not have");
            references.Add(Assembly.LoadFrom(local));
            lines[i] = "";
        }
        return string.Join("\n", lines);
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "B12x.ML.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"No B12x.ML.sln above {AppContext.BaseDirectory}.");
    }
}

/// <summary>The .NET Interactive kernel helpers the notebook calls, recording what would be displayed.</summary>
public sealed class NotebookGlobals
{
    public List<string> Displayed { get; } = [];

#pragma warning disable IDE1006 // the kernel's own lower-case names
    public void display(object value) => Displayed.Add(value?.ToString() ?? "");

    public string HTML(string html) => html;
#pragma warning restore IDE1006
}
