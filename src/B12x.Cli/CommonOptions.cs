using System;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.IO;

namespace B12x.Cli;

/// <summary>Option factories shared by the commands, so every command spells and checks values the same way.</summary>
internal static class CommonOptions
{
    /// <summary>--verbose, inherited by every command: full exception details on failure.</summary>
    public static Option<bool> Verbose() => new("--verbose")
    {
        Description = "Print full exception details (stack traces) on failure.",
        Recursive = true,
    };

    /// <summary>
    /// An option whose text is parsed by one of <c>ModeSpellings</c>' parsers, so the CLI accepts exactly the spellings
    /// the library and layer files accept; an unknown spelling is a usage error with the library's message.
    /// </summary>
    public static SpellingOption<T> Spelling<T>(string name, string description, string defaultSpelling, Func<string, string, T> parse)
    {
        string parameter = name.TrimStart('-').Replace('-', '_');
        var option = new Option<string>(name)
        {
            Description = description,
            HelpName = parameter,
            DefaultValueFactory = _ => defaultSpelling,
        };
        option.Validators.Add(result =>
        {
            try
            {
                parse(result.GetValueOrDefault<string>() ?? "", parameter);
            }
            catch (ArgumentException e)
            {
                result.AddError(MessageOf(e));
            }
        });
        return new SpellingOption<T>(option, text => parse(text, parameter));
    }

    /// <summary>A required integer option that must be at least <paramref name="minimum"/> (and a multiple of <paramref name="multipleOf"/>).</summary>
    public static Option<int> Size(string name, string description, int minimum = 1, int multipleOf = 1) => new(name)
    {
        Description = description,
        Required = true,
        HelpName = "n",
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) ||
                value < minimum || value % multipleOf != 0)
            {
                string rule = multipleOf > 1 ? $"a multiple of {multipleOf} of at least {minimum}" : $"an integer of at least {minimum}";
                result.AddError($"{name} must be {rule}; got '{text}'.");
            }
            return value;
        },
    };

    /// <summary>The value of an option created by <see cref="Size"/>, or null when it is absent or invalid (already reported).</summary>
    public static int? ValidSize(CommandResult command, Option<int> option)
    {
        OptionResult? result = command.GetResult(option);
        return result is { Tokens.Count: 1 } && int.TryParse(result.Tokens[0].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value)
            ? value
            : null;
    }

    /// <summary>An exception's message without the " (Parameter 'name')" suffix that ArgumentException appends.</summary>
    public static string MessageOf(Exception exception) =>
        exception is ArgumentException { ParamName: string name } ? exception.Message.Replace($" (Parameter '{name}')", "") : exception.Message;

    /// <summary>A required option naming an existing file.</summary>
    public static Option<FileInfo> ExistingFile(string name, string description)
    {
        var option = new Option<FileInfo>(name) { Description = description, Required = true, HelpName = "file" };
        return option.AcceptExistingOnly();
    }

    /// <summary>A required option naming a file to write, whose directory must exist.</summary>
    public static Option<FileInfo> NewFile(string name, string description)
    {
        var option = new Option<FileInfo>(name) { Description = description, Required = true, HelpName = "file" };
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count != 1)
            {
                return;
            }
            var file = new FileInfo(result.Tokens[0].Value);
            if (!Directory.Exists(file.DirectoryName))
            {
                result.AddError($"{name}: the directory '{file.DirectoryName}' does not exist.");
            }
            else if (Directory.Exists(file.FullName))
            {
                result.AddError($"{name}: '{file.FullName}' is a directory; give a file name.");
            }
        });
        return option;
    }
}
