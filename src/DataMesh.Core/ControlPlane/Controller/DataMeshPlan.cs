using System.Globalization;
using System.Text;

namespace DataMesh;

/// <summary>What a planned change does.</summary>
public enum PlanAction
{
    /// <summary>Nothing: the resource is as wanted.</summary>
    Unchanged,

    /// <summary>The resource is created (a topic) or started (a source or pipeline).</summary>
    Create,

    /// <summary>The resource's settings change in place (a topic's partitions or configuration, a subject's compatibility).</summary>
    Update,

    /// <summary>A source or pipeline whose settings changed restarts with them, from its stored position or committed offsets.</summary>
    Restart,

    /// <summary>A source or pipeline no longer declared stops; its resources are kept.</summary>
    Stop,

    /// <summary>The resource is deleted (<c>datamesh delete --with-resources</c>).</summary>
    Delete,
}

/// <summary>One line of a plan.</summary>
/// <param name="Action">What happens.</param>
/// <param name="Kind">The kind of resource: <c>source</c>, <c>pipeline</c>, <c>topic</c>, <c>subject</c>, <c>consumer group</c>,
/// <c>replication slot</c>, <c>publication</c>.</param>
/// <param name="Name">Its name.</param>
/// <param name="Detail">What is wanted or what changes; never a secret.</param>
public sealed record PlanChange(PlanAction Action, string Kind, string Name, string Detail)
{
    /// <summary>The change as <c>datamesh plan</c> prints it: <c>+</c> create, <c>~</c> update, <c>-/+</c> restart,
    /// <c>-</c> stop or delete, <c>=</c> unchanged.</summary>
    public override string ToString()
    {
        var sign = Action switch
        {
            PlanAction.Create => "+  ",
            PlanAction.Update => "~  ",
            PlanAction.Restart => "-/+",
            PlanAction.Stop or PlanAction.Delete => "-  ",
            _ => "=  ",
        };
        return $"{sign} {Kind} {Name}{(Detail.Length > 0 ? ": " + Detail : string.Empty)}";
    }
}

/// <summary>The difference between what exists and what a definition wants, before anything changes.</summary>
/// <param name="Changes">Every resource the definition needs (and every component it no longer declares), in order:
/// sources with their topics and database resources, then pipelines with theirs.</param>
/// <param name="Notes">What the plan cannot do or check here (the embedded cluster keeps no topic configuration ...).</param>
/// <param name="Generation">The generation the apply of this plan writes.</param>
public sealed record DataMeshPlan(IReadOnlyList<PlanChange> Changes, IReadOnlyList<string> Notes, long Generation)
{
    /// <summary>Whether applying the plan changes anything.</summary>
    public bool HasChanges => Changes.Any(c => c.Action != PlanAction.Unchanged);

    /// <summary>The plan as <c>datamesh plan</c> prints it: the changes, then a count of the unchanged resources and the notes.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var change in Changes.Where(c => c.Action != PlanAction.Unchanged))
        {
            text.AppendLine(change.ToString());
        }

        var counts = Changes.GroupBy(c => c.Action).ToDictionary(g => g.Key, g => g.Count());
        text.Append(CultureInfo.InvariantCulture,
            $"Plan: {Count(counts, PlanAction.Create)} to create, {Count(counts, PlanAction.Update)} to update, {Count(counts, PlanAction.Restart)} to restart, " +
            $"{Count(counts, PlanAction.Stop) + Count(counts, PlanAction.Delete)} to stop or delete, {Count(counts, PlanAction.Unchanged)} unchanged.");
        foreach (var note in Notes)
        {
            text.AppendLine().Append("Note: ").Append(note);
        }

        return text.ToString();
    }

    private static int Count(Dictionary<PlanAction, int> counts, PlanAction action) => counts.GetValueOrDefault(action);
}

/// <summary>A definition that cannot be planned: its problems, each with its place in the file.</summary>
public sealed class DefinitionInvalidException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="problems">The problems.</param>
    public DefinitionInvalidException(IReadOnlyList<DefinitionProblem> problems)
        : base($"The definition has {problems.Count} problem{(problems.Count == 1 ? string.Empty : "s")}: " + string.Join("; ", problems.Take(5)))
    {
        Problems = problems;
    }

    /// <summary>Creates the exception.</summary>
    public DefinitionInvalidException()
        : this([])
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    public DefinitionInvalidException(string message)
        : base(message)
    {
        Problems = [];
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public DefinitionInvalidException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problems = [];
    }

    /// <summary>Every problem, in the order of the file.</summary>
    public IReadOnlyList<DefinitionProblem> Problems { get; }
}
