using System.Collections.Generic;

namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>Short text for sets of layer or expert indices.</summary>
internal static class IndexRanges
{
    /// <summary>"0-3, 5, 7-9" for ascending <paramref name="values"/>.</summary>
    public static string Format(IEnumerable<int> values)
    {
        var parts = new List<string>();
        int[] sorted = [.. values];
        for (int i = 0; i < sorted.Length;)
        {
            int j = i;
            while (j + 1 < sorted.Length && sorted[j + 1] == sorted[j] + 1)
            {
                j++;
            }
            parts.Add(j == i ? $"{sorted[i]}" : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }
        return string.Join(", ", parts);
    }
}
