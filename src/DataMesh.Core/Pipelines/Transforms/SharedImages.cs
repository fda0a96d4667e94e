namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// The field ranges of an envelope's row images, found by one stage and reused by the next one in the same record: a
/// filter walks past <c>before</c> and <c>after</c> to reach <c>source</c> and <c>op</c>, and records the rows' field
/// ranges on the way, so that the row rewrite that follows it does not walk them again. The memory is the chain's
/// (on the stack, per record); an image whose ranges are not known (not walked, or not in the canonical one-byte
/// union form) is walked by the rewrite as usual. Inactive when <see cref="Row"/> is null.
/// </summary>
internal readonly ref struct SharedImages
{
    /// <summary>Per image: <see cref="Unknown"/>, <see cref="Null"/> or <see cref="Present"/>.</summary>
    public const int Unknown = 0;

    public const int Null = 1;

    public const int Present = 2;

    private readonly Span<Range> _before;
    private readonly Span<Range> _after;

    /// <summary>Per image (before at 0, after at 3): its state, the offset of its row in the envelope, the row's length.</summary>
    private readonly Span<int> _info;

    public SharedImages(EnvelopeShape shape, FieldRangeFinder row, Span<Range> before, Span<Range> after, Span<int> info)
    {
        Row = row;
        BeforeIndex = shape.Before;
        AfterIndex = shape.After;
        BeforeRowBranch = shape.BeforeRowBranch;
        AfterRowBranch = shape.AfterRowBranch;
        _before = before;
        _after = after;
        _info = info;
        info[..6].Clear();
    }

    /// <summary>The row's range finder (that of the rewrite which reads the ranges); null when sharing is off.</summary>
    public FieldRangeFinder? Row { get; }

    public bool IsActive => Row is not null;

    public int BeforeIndex { get; }

    public int AfterIndex { get; }

    public int BeforeRowBranch { get; }

    public int AfterRowBranch { get; }

    /// <summary>The top-level field index's image slot: 0 for before, 1 for after, -1 for other fields.</summary>
    public int SlotOf(int field) => field == BeforeIndex ? 0 : field == AfterIndex ? 1 : -1;

    public int RowBranch(int slot) => slot == 0 ? BeforeRowBranch : AfterRowBranch;

    public Span<Range> Ranges(int slot) => slot == 0 ? _before : _after;

    public int State(int slot) => _info[slot * 3];

    public int Start(int slot) => _info[(slot * 3) + 1];

    public int Length(int slot) => _info[(slot * 3) + 2];

    public void Set(int slot, int state, int start, int length)
    {
        _info[slot * 3] = state;
        _info[(slot * 3) + 1] = start;
        _info[(slot * 3) + 2] = length;
    }
}
