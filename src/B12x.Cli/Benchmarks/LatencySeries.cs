using System.Collections.Generic;

namespace B12x.Cli.Benchmarks;

/// <summary>
/// One curve pair of a latency plot: measured latency and its lower bound, both as (token count, microseconds)
/// points in any order.
/// </summary>
internal sealed record LatencySeries(string Name, IReadOnlyList<(int Tokens, double Micros)> Measured, IReadOnlyList<(int Tokens, double Micros)> Bound);
