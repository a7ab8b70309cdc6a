using System;
using Microsoft.ML.B12x;

namespace Microsoft.ML;

/// <summary>The fused NVFP4 Mixture-of-Experts layer in ML.NET's transforms catalog.</summary>
public static class FusedMoeCatalog
{
    /// <summary>
    /// Runs the MoE layer of <paramref name="weights"/> on each row, routed by the row's expert ids and routing weights.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">Output column: vector of Single, length H.</param>
    /// <param name="weights">The layer (stays the caller's; dispose it after the transformer).</param>
    /// <param name="hiddenStatesColumnName">Hidden states: known-size vector of Single, length H (rounded to bfloat16).</param>
    /// <param name="expertIdsColumnName">Global expert ids: known-size vector of Int32, length K.</param>
    /// <param name="routingWeightsColumnName">Routing weights: known-size vector of Single, length K (used as given).</param>
    public static FusedMoeEstimator FusedMoe(
        this TransformsCatalog catalog, string outputColumnName, MoeWeights weights, string hiddenStatesColumnName,
        string expertIdsColumnName, string routingWeightsColumnName) =>
        catalog.FusedMoe(weights, new FusedMoeTransformerOptions
        {
            OutputColumnName = outputColumnName,
            HiddenStatesColumnName = hiddenStatesColumnName,
            ExpertIdsColumnName = expertIdsColumnName,
            RoutingWeightsColumnName = routingWeightsColumnName,
        });

    /// <summary>
    /// Runs the MoE layer of <paramref name="weights"/> on each row, routed inside by <paramref name="router"/> from the
    /// row's router logits (K from the weights' <c>top_k</c>; use the options overload to set it).
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">Output column: vector of Single, length H.</param>
    /// <param name="weights">The layer (stays the caller's; dispose it after the transformer).</param>
    /// <param name="hiddenStatesColumnName">Hidden states: known-size vector of Single, length H (rounded to bfloat16).</param>
    /// <param name="routerLogitsColumnName">Router logits: known-size vector of Single, length E.</param>
    /// <param name="router">How logits become expert ids and routing weights.</param>
    public static FusedMoeEstimator FusedMoe(
        this TransformsCatalog catalog, string outputColumnName, MoeWeights weights, string hiddenStatesColumnName,
        string routerLogitsColumnName, RouterKind router) =>
        catalog.FusedMoe(weights, new FusedMoeTransformerOptions
        {
            OutputColumnName = outputColumnName,
            HiddenStatesColumnName = hiddenStatesColumnName,
            RouterLogitsColumnName = routerLogitsColumnName,
            Router = router,
        });

    /// <summary>Runs the MoE layer of <paramref name="weights"/> with every setting of <paramref name="options"/>.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="weights">The layer (stays the caller's; dispose it after the transformer).</param>
    /// <param name="options">Columns, routing, device, batch size and operator options.</param>
    /// <exception cref="ArgumentException">The options are incomplete or contradict the weights.</exception>
    public static FusedMoeEstimator FusedMoe(this TransformsCatalog catalog, MoeWeights weights, FusedMoeTransformerOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new FusedMoeEstimator(weights, options);
    }
}
