using System;
using System.CommandLine;

namespace B12x.Cli;

/// <summary>A string option holding one of a mode's spellings, and the parser that turns it into the mode.</summary>
/// <param name="Option">The option (its validator already rejected unknown spellings).</param>
/// <param name="Parse">Spelling to value.</param>
internal sealed record SpellingOption<T>(Option<string> Option, Func<string, T> Parse)
{
    /// <summary>The parsed value of the option in <paramref name="parse"/> (its default when not given).</summary>
    public T GetValue(ParseResult parse) => Parse(parse.GetRequiredValue(Option));

    /// <summary>Lets the wrapper stand where an option is expected (command initialisers).</summary>
    public static implicit operator Option(SpellingOption<T> spelling) => spelling.Option;
}
