using System.Diagnostics;
using System.Globalization;

namespace DataMesh.Tests;

/// <summary>
/// The fuzz harness every fuzz test shares (Core and Connectors; linked into the Connectors tests): seeded inputs — most
/// of them mutations of valid ones — fed to a target, which may only throw the exceptions its callers handle. Any other
/// exception fails the test with the iteration, the seed and the input, so that it can be replayed. A run is bounded by a
/// number of iterations and a time budget, whichever ends first: a few seconds each in the suite; set
/// <c>DATAMESH_FUZZ_ITERATIONS</c> and <c>DATAMESH_FUZZ_SECONDS</c> for a longer run. The harness cannot catch a stack
/// overflow, an allocation the system kills the process for, or a hang: the targets must not recurse, allocate or loop on
/// what the input says, and a test that ends the process is a failure too. To find the input that ended it, set
/// <c>DATAMESH_FUZZ_TRACE</c> to a file: each input is written there before it runs, so the file holds the last one.
/// <c>DATAMESH_FUZZ_REPORT</c> names a file each run appends a line to: what was fuzzed, the inputs, the refused ones, the time.
/// </summary>
internal static class Fuzz
{
    private static readonly int? IterationsOverride = int.TryParse(Environment.GetEnvironmentVariable("DATAMESH_FUZZ_ITERATIONS"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;

    private static readonly TimeSpan? BudgetOverride = double.TryParse(Environment.GetEnvironmentVariable("DATAMESH_FUZZ_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) ? TimeSpan.FromSeconds(s) : null;

    private static readonly string? TracePath = Environment.GetEnvironmentVariable("DATAMESH_FUZZ_TRACE");

    private static readonly string? ReportPath = Environment.GetEnvironmentVariable("DATAMESH_FUZZ_REPORT");

    /// <summary>The time budget of one run in the suite.</summary>
    public static readonly TimeSpan DefaultBudget = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Runs <paramref name="target"/> on <paramref name="iterations"/> inputs made by <paramref name="input"/> from one
    /// <see cref="Random"/> seeded with <paramref name="seed"/>, within the time budget.
    /// </summary>
    /// <param name="name">What is fuzzed, for the failure message.</param>
    /// <param name="seed">The seed; iteration <c>i</c>'s input depends only on it and on <c>i</c>.</param>
    /// <param name="iterations">The iterations in the suite (<c>DATAMESH_FUZZ_ITERATIONS</c> replaces it).</param>
    /// <param name="input">Makes one input.</param>
    /// <param name="target">Runs the code under test on one input.</param>
    /// <param name="describe">The input as text for the failure message (hex for bytes).</param>
    /// <param name="documented">The exceptions the target may throw: those its callers handle.</param>
    /// <returns>How many inputs ran, and how many the target refused with a documented exception.</returns>
    public static FuzzRun Run<T>(string name, int seed, int iterations, Func<Random, T> input, Action<T> target, Func<T, string> describe, params Type[] documented)
    {
        var random = new Random(seed);
        var limit = IterationsOverride ?? iterations;
        var budget = BudgetOverride ?? DefaultBudget;
        var clock = Stopwatch.StartNew();
        var run = 0;
        var refused = 0;
        for (; run < limit && clock.Elapsed < budget; run++)
        {
            var value = input(random);
            if (TracePath is not null)
            {
                File.WriteAllText(TracePath, $"{name}: iteration {run} (seed {seed})\n{describe(value)}\n");
            }

            try
            {
                target(value);
            }
            catch (Exception e) when (documented.Any(t => t.IsInstanceOfType(e)))
            {
                refused++;
            }
            catch (Exception e)
            {
                throw new FuzzFailureException($"{name}: iteration {run} (seed {seed}) threw {e.GetType().FullName}: {e.Message}\ninput: {Shorten(describe(value))}", e);
            }
        }

        if (ReportPath is not null)
        {
            File.AppendAllText(ReportPath, string.Create(CultureInfo.InvariantCulture, $"{name}\t{run} inputs\t{refused} refused\t{clock.Elapsed.TotalMilliseconds:F0} ms\n"));
        }

        return new FuzzRun(run, refused, clock.Elapsed);
    }

    /// <summary><see cref="Run{T}"/> over byte inputs, described in hex.</summary>
    public static FuzzRun Bytes(string name, int seed, int iterations, Func<Random, byte[]> input, Action<byte[]> target, params Type[] documented) =>
        Run(name, seed, iterations, input, target, Convert.ToHexString, documented);

    /// <summary>
    /// A mutation of <paramref name="original"/>: one to three edits among bit flips, random bytes, truncation, inserted
    /// and removed bytes, a maximal varint or a large length dropped in, and random bytes appended.
    /// </summary>
    public static byte[] Mutate(ReadOnlySpan<byte> original, Random random)
    {
        var data = new List<byte>(original.ToArray());
        var edits = random.Next(1, 4);
        for (var e = 0; e < edits; e++)
        {
            switch (random.Next(7))
            {
                case 0 when data.Count > 0:
                    data[random.Next(data.Count)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when data.Count > 0:
                    data[random.Next(data.Count)] = (byte)random.Next(256);
                    break;
                case 2 when data.Count > 0:
                {
                    var cut = random.Next(data.Count);
                    data.RemoveRange(cut, data.Count - cut);
                    break;
                }

                case 3:
                    data.Insert(random.Next(data.Count + 1), (byte)random.Next(256));
                    break;
                case 4 when data.Count > 0:
                    data.RemoveAt(random.Next(data.Count));
                    break;
                case 5:
                {
                    // A maximal varint or a large length.
                    byte[] big = random.Next(2) == 0 ? [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] : [0x80, 0xE8, 0xED, 0xB3, 0x0E];
                    data.InsertRange(random.Next(data.Count + 1), big);
                    break;
                }

                default:
                {
                    var extra = new byte[random.Next(1, 16)];
                    random.NextBytes(extra);
                    data.AddRange(extra);
                    break;
                }
            }
        }

        return [.. data];
    }

    /// <summary>A mutation of a text: one to three edits among deleting, duplicating and swapping a span, and inserting one of <paramref name="pieces"/> or a random character.</summary>
    public static string Mutate(string original, Random random, IReadOnlyList<string> pieces)
    {
        var text = new System.Text.StringBuilder(original);
        var edits = random.Next(1, 4);
        for (var e = 0; e < edits; e++)
        {
            var at = random.Next(text.Length + 1);
            var length = Math.Min(random.Next(1, 8), text.Length - at);
            switch (random.Next(5))
            {
                case 0 when length > 0:
                    text.Remove(at, length);
                    break;
                case 1 when length > 0:
                    text.Insert(at, text.ToString(at, length));
                    break;
                case 2 when length > 0 && text.Length > 1:
                {
                    var other = random.Next(text.Length - length + 1);
                    var span = text.ToString(at, length);
                    text.Remove(at, length);
                    text.Insert(Math.Min(other, text.Length), span);
                    break;
                }

                case 3:
                    text.Insert(at, pieces[random.Next(pieces.Count)]);
                    break;
                default:
                    text.Insert(at, (char)random.Next(0x20, 0x7F));
                    break;
            }
        }

        return text.ToString();
    }

    private static string Shorten(string text) => text.Length <= 4000 ? text : text[..4000] + $"... ({text.Length} characters)";
}

/// <summary>What one fuzz run did.</summary>
/// <param name="Iterations">The inputs that ran.</param>
/// <param name="Refused">The inputs the target refused with a documented exception.</param>
/// <param name="Elapsed">How long it took.</param>
internal readonly record struct FuzzRun(int Iterations, int Refused, TimeSpan Elapsed);

/// <summary>A fuzz target threw an exception its callers do not handle.</summary>
internal sealed class FuzzFailureException(string message, Exception inner) : Exception(message, inner);
