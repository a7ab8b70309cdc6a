namespace Microsoft.ML.B12x.IO.Checkpoints;

/// <summary>One thing the importer changed or wants the caller to know.</summary>
/// <param name="Issue">What it is about.</param>
/// <param name="Message">One line naming the experts, tensors and values involved.</param>
/// <param name="Experts">The experts concerned (empty when it concerns the whole layer).</param>
public sealed record ImportNote(ImportIssue Issue, string Message, System.Collections.Generic.IReadOnlyList<int> Experts)
{
    /// <inheritdoc />
    public override string ToString() => $"[{Issue}] {Message}";
}
