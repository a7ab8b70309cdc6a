namespace Microsoft.ML.B12x;

/// <summary>
/// How router logits (float32 [T, E], one per expert) become the expert ids and routing weights of each token. Ties
/// go to the lower expert index; selected experts are listed by descending weight. Routings not listed here (e.g.
/// DeepSeek-V3's grouped sigmoid routing with a bias correction) are not implemented: compute ids and weights
/// yourself and pass them as columns or tensors.
/// </summary>
public enum RouterKind
{
    /// <summary>
    /// Softmax over all E logits, then the K largest probabilities, optionally renormalised to sum to 1
    /// (Qwen3-MoE with <c>norm_topk_prob</c>, Mixtral).
    /// </summary>
    SoftmaxTopK,

    /// <summary>The K largest logits, then a softmax over those K (gpt-oss).</summary>
    TopKSoftmax,
}
