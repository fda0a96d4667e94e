namespace DataMesh.Producer.Emitting;

/// <summary>
/// The slots of the emitter's bounded queue, handed out in the order they were asked for. A call that finds no slot, or
/// finds others already waiting, waits behind every earlier one; a freed slot goes to the oldest waiter, and its event is
/// accepted by the thread that freed the slot, under the lock, so that events enter the queue in the order their calls
/// were made. (A semaphore woke its waiters on pool threads in any order, and let a later call that found a slot free go
/// ahead of them: one key's events, emitted without awaiting each, could reach Kafka out of order.) Thread-safe.
/// </summary>
internal sealed class Admission(int capacity, Action<PendingEvent> accept)
{
    private readonly object _lock = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private int _free = capacity;
    private int _released;
    private bool _releasing;

    /// <summary>Accepts the event when a slot is free and nobody waits; false otherwise (nothing done).</summary>
    public bool TryEnter(PendingEvent pending)
    {
        lock (_lock)
        {
            if (_free == 0 || _waiters.Count > 0)
            {
                return false;
            }

            _free--;
            accept(pending);
            return true;
        }
    }

    /// <summary>Completes once the event was accepted, in turn; cancelled (the event not accepted) by <paramref name="cancellationToken"/>.</summary>
    public Task EnterAsync(PendingEvent pending, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Join(pending, synchronous: false) is not { } waiter)
        {
            return Task.CompletedTask;
        }

        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(static state =>
            {
                var (admission, waiter, token) = ((Admission, Waiter, CancellationToken))state!;
                if (admission.Withdraw(waiter))
                {
                    waiter.Completion!.TrySetCanceled(token);
                }
            }, (this, waiter, cancellationToken));
            waiter.Completion!.Task.ContinueWith(static (_, state) => ((CancellationTokenRegistration)state!).Dispose(), registration, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return waiter.Completion!.Task;
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the event to be accepted, in turn; false when it was not.</summary>
    public bool Enter(PendingEvent pending, TimeSpan timeout)
    {
        if (Join(pending, synchronous: true) is not { } waiter)
        {
            return true;
        }

        using (waiter.Signal)
        {
            // Blocking on purpose: this is Emit's QueueFullPolicy.Block, a synchronous call that waits at most QueueFullTimeout
            // (a kernel wait on an event, no task and no synchronization context involved). Either it was accepted in time,
            // or it is withdrawn now; accepted meanwhile counts as accepted.
            return waiter.Signal!.Wait(timeout) || !Withdraw(waiter);
        }
    }

    /// <summary>Frees a slot: the oldest waiter's event is accepted now, or the slot is kept for the next call.</summary>
    public void Release()
    {
        lock (_lock)
        {
            _released++;
            if (_releasing)
            {
                return; // an accept below failed its event and freed its slot: the loop below hands that one on too
            }

            _releasing = true;
            try
            {
                while (_released > 0)
                {
                    _released--;
                    if (_waiters.First is { } first)
                    {
                        _waiters.RemoveFirst();
                        first.Value.Node = null;
                        accept(first.Value.Pending);
                        first.Value.Completion?.TrySetResult();
                        first.Value.Signal?.Set();
                    }
                    else
                    {
                        _free++;
                    }
                }
            }
            finally
            {
                _releasing = false;
            }
        }
    }

    /// <summary>Accepts the event now when a slot is free and nobody waits (null), else puts it at the end of the line.</summary>
    private Waiter? Join(PendingEvent pending, bool synchronous)
    {
        lock (_lock)
        {
            if (_free > 0 && _waiters.Count == 0)
            {
                _free--;
                accept(pending);
                return null;
            }

            var waiter = new Waiter(pending, synchronous);
            waiter.Node = _waiters.AddLast(waiter);
            return waiter;
        }
    }

    /// <summary>Takes a waiter out of the line; false when it was accepted already.</summary>
    private bool Withdraw(Waiter waiter)
    {
        lock (_lock)
        {
            if (waiter.Node is not { } node)
            {
                return false;
            }

            _waiters.Remove(node);
            waiter.Node = null;
            return true;
        }
    }

    private sealed class Waiter(PendingEvent pending, bool synchronous)
    {
        public PendingEvent Pending { get; } = pending;

        /// <summary>Completed (continuations on the pool, never under the lock) when an asynchronous waiter's event was accepted.</summary>
        public TaskCompletionSource? Completion { get; } = synchronous ? null : new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Set when a synchronous waiter's event was accepted.</summary>
        public ManualResetEventSlim? Signal { get; } = synchronous ? new(false) : null;

        /// <summary>Its place in the line; null once accepted or withdrawn (read and written under the lock).</summary>
        public LinkedListNode<Waiter>? Node { get; set; }
    }
}
