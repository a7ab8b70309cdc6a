using System;
using System.Collections.Generic;

namespace B12x.Cli.Benchmarks;

/// <summary>
/// A 5×7 pixel font for plot labels: digits, Latin letters, the space and the punctuation that axis labels and shape
/// names use (<c>- . , % / ( ) : = _ + [ ] '</c> and <c>µ</c>). Built in, so drawing text needs no font file and no
/// native library. A character cell is 5×9: 7 rows above the baseline and 2 below for the tails of g, p, q, y and µ.
/// </summary>
internal static class BitmapFont
{
    /// <summary>Glyph width in pixels.</summary>
    public const int GlyphWidth = 5;

    /// <summary>Height of capitals and digits in pixels: the rows above the baseline.</summary>
    public const int CapHeight = 7;

    /// <summary>Rows below the baseline, used by descenders.</summary>
    public const int Descent = 2;

    /// <summary>Cell height in pixels: what <see cref="Rows"/> returns.</summary>
    public const int GlyphHeight = CapHeight + Descent;

    /// <summary>Horizontal distance from one glyph to the next: the glyph and one pixel of spacing.</summary>
    public const int Advance = GlyphWidth + 1;

    // Each entry: the character; its 7 rows top to bottom, 5 columns left to right ('#' = ink); and how many rows the
    // pattern sits below the top of the cell (Descent for letters whose last two rows hang below the baseline).
    private static readonly (char Character, string Rows, int Drop)[] s_glyphs =
    {
        (' ', "..... ..... ..... ..... ..... ..... .....", 0),
        ('0', ".###. #...# #..## #.#.# ##..# #...# .###.", 0),
        ('1', "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.", 0),
        ('2', ".###. #...# ....# ...#. ..#.. .#... #####", 0),
        ('3', "##### ...#. ..#.. ...#. ....# #...# .###.", 0),
        ('4', "...#. ..##. .#.#. #..#. ##### ...#. ...#.", 0),
        ('5', "##### #.... ####. ....# ....# #...# .###.", 0),
        ('6', "..##. .#... #.... ####. #...# #...# .###.", 0),
        ('7', "##### ....# ...#. ..#.. .#... .#... .#...", 0),
        ('8', ".###. #...# #...# .###. #...# #...# .###.", 0),
        ('9', ".###. #...# #...# .#### ....# ...#. .##..", 0),
        ('A', ".###. #...# #...# ##### #...# #...# #...#", 0),
        ('B', "####. #...# #...# ####. #...# #...# ####.", 0),
        ('C', ".###. #...# #.... #.... #.... #...# .###.", 0),
        ('D', "###.. #..#. #...# #...# #...# #..#. ###..", 0),
        ('E', "##### #.... #.... ####. #.... #.... #####", 0),
        ('F', "##### #.... #.... ####. #.... #.... #....", 0),
        ('G', ".###. #...# #.... #.### #...# #...# .####", 0),
        ('H', "#...# #...# #...# ##### #...# #...# #...#", 0),
        ('I', ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.", 0),
        ('J', "..### ...#. ...#. ...#. ...#. #..#. .##..", 0),
        ('K', "#...# #..#. #.#.. ##... #.#.. #..#. #...#", 0),
        ('L', "#.... #.... #.... #.... #.... #.... #####", 0),
        ('M', "#...# ##.## #.#.# #.#.# #...# #...# #...#", 0),
        ('N', "#...# #...# ##..# #.#.# #..## #...# #...#", 0),
        ('O', ".###. #...# #...# #...# #...# #...# .###.", 0),
        ('P', "####. #...# #...# ####. #.... #.... #....", 0),
        ('Q', ".###. #...# #...# #...# #.#.# #..#. .##.#", 0),
        ('R', "####. #...# #...# ####. #.#.. #..#. #...#", 0),
        ('S', ".#### #.... #.... .###. ....# ....# ####.", 0),
        ('T', "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..", 0),
        ('U', "#...# #...# #...# #...# #...# #...# .###.", 0),
        ('V', "#...# #...# #...# #...# #...# .#.#. ..#..", 0),
        ('W', "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.", 0),
        ('X', "#...# #...# .#.#. ..#.. .#.#. #...# #...#", 0),
        ('Y', "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..", 0),
        ('Z', "##### ....# ...#. ..#.. .#... #.... #####", 0),
        ('a', "..... ..... .###. ....# .#### #...# .####", 0),
        ('b', "#.... #.... #.##. ##..# #...# #...# ####.", 0),
        ('c', "..... ..... .###. #.... #.... #...# .###.", 0),
        ('d', "....# ....# .##.# #..## #...# #...# .####", 0),
        ('e', "..... ..... .###. #...# ##### #.... .###.", 0),
        ('f', "..##. .#..# .#... ###.. .#... .#... .#...", 0),
        ('g', ".#### #...# #...# #...# .#### ....# .###.", Descent),
        ('h', "#.... #.... #.##. ##..# #...# #...# #...#", 0),
        ('i', "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.", 0),
        ('j', "...#. ..... ..##. ...#. ...#. #..#. .##..", 0),
        ('k', "#.... #.... #..#. #.#.. ##... #.#.. #..#.", 0),
        ('l', ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.", 0),
        ('m', "..... ..... ##.#. #.#.# #.#.# #...# #...#", 0),
        ('n', "..... ..... #.##. ##..# #...# #...# #...#", 0),
        ('o', "..... ..... .###. #...# #...# #...# .###.", 0),
        ('p', "####. #...# #...# #...# ####. #.... #....", Descent),
        ('q', ".#### #...# #...# #...# .#### ....# ....#", Descent),
        ('r', "..... ..... #.##. ##..# #.... #.... #....", 0),
        ('s', "..... ..... .###. #.... .###. ....# ####.", 0),
        ('t', ".#... .#... ###.. .#... .#... .#..# ..##.", 0),
        ('u', "..... ..... #...# #...# #...# #..## .##.#", 0),
        ('v', "..... ..... #...# #...# #...# .#.#. ..#..", 0),
        ('w', "..... ..... #...# #...# #.#.# #.#.# .#.#.", 0),
        ('x', "..... ..... #...# .#.#. ..#.. .#.#. #...#", 0),
        ('y', "#...# #...# #...# #...# .#### ....# .###.", Descent),
        ('z', "..... ..... ##### ...#. ..#.. .#... #####", 0),
        ('-', "..... ..... ..... .###. ..... ..... .....", 0),
        ('.', "..... ..... ..... ..... ..... .##.. .##..", 0),
        (',', "..... ..... ..... ..... .##.. ..#.. .#...", 0),
        ('%', "##... ##..# ...#. ..#.. .#... #..## ...##", 0),
        ('/', "..... ....# ...#. ..#.. .#... #.... .....", 0),
        ('(', "...#. ..#.. .#... .#... .#... ..#.. ...#.", 0),
        (')', ".#... ..#.. ...#. ...#. ...#. ..#.. .#...", 0),
        (':', "..... .##.. .##.. ..... .##.. .##.. .....", 0),
        ('=', "..... ..... ##### ..... ##### ..... .....", 0),
        ('_', "..... ..... ..... ..... ..... ..... #####", 0),
        ('+', "..... ..#.. ..#.. ##### ..#.. ..#.. .....", 0),
        ('[', ".###. .#... .#... .#... .#... .#... .###.", 0),
        (']', ".###. ...#. ...#. ...#. ...#. ...#. .###.", 0),
        ('\'', "..#.. ..#.. .#... ..... ..... ..... .....", 0),
        ('\u00B5', "#...# #...# #...# #...# #..## ###.# #....", Descent),
    };

    // Drawn for characters the font lacks, so a missing glyph shows up instead of vanishing.
    private static readonly byte[] s_missing = ParseRows("##### #...# #...# #...# #...# #...# #####", 0);

    private static readonly Dictionary<char, byte[]> s_rows = Build();

    /// <summary>
    /// The <see cref="GlyphHeight"/> rows of <paramref name="character"/>'s cell, top first; bit 4 of a row is its
    /// leftmost column. Greek mu (U+03BC) draws as the micro sign; characters without a glyph draw as a hollow box.
    /// </summary>
    public static ReadOnlySpan<byte> Rows(char character)
    {
        if (character == '\u03BC')
        {
            character = '\u00B5';
        }
        return s_rows.TryGetValue(character, out byte[]? rows) ? rows : s_missing;
    }

    /// <summary>Width in pixels of <paramref name="text"/> drawn at integer <paramref name="scale"/> (no trailing spacing).</summary>
    public static int MeasureWidth(string text, int scale) =>
        text.Length == 0 ? 0 : (text.Length * Advance - 1) * scale;

    private static Dictionary<char, byte[]> Build()
    {
        var rows = new Dictionary<char, byte[]>(s_glyphs.Length);
        foreach ((char character, string pattern, int drop) in s_glyphs)
        {
            rows.Add(character, ParseRows(pattern, drop));
        }
        return rows;
    }

    private static byte[] ParseRows(string pattern, int drop)
    {
        string[] lines = pattern.Split(' ');
        if (lines.Length != CapHeight)
        {
            throw new InvalidOperationException($"A glyph pattern needs {CapHeight} rows; got {lines.Length} in '{pattern}'.");
        }
        var rows = new byte[GlyphHeight];
        for (int r = 0; r < CapHeight; r++)
        {
            if (lines[r].Length != GlyphWidth)
            {
                throw new InvalidOperationException($"A glyph row needs {GlyphWidth} columns; got '{lines[r]}' in '{pattern}'.");
            }
            for (int c = 0; c < GlyphWidth; c++)
            {
                if (lines[r][c] == '#')
                {
                    rows[r + drop] |= (byte)(1 << (GlyphWidth - 1 - c));
                }
            }
        }
        return rows;
    }
}
