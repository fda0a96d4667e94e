using System.Globalization;
using System.Text;
using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;
using OxyPlot.SkiaSharp;
using static System.FormattableString;
using static DataMesh.Benchmarks.BenchStats;

namespace DataMesh.Benchmarks;

/// <summary>The curves suite's PNG plots (OxyPlot drawn with SkiaSharp) and Markdown tables.</summary>
internal static class CurvePlots
{
    private const int Width = 900;
    private const int Height = 560;

    /// <summary>Draws the rows/s of <paramref name="curve"/>: the median rate from the first acknowledged row to the last,
    /// its min-max band, and the median from launch; log axes where the values span a decade or more. <paramref name="database"/>
    /// names the source's database in the title.</summary>
    public static void Write(Curve curve, IReadOnlyDictionary<CurvePoint, PointResult> results, string folder, string database)
    {
        var model = Model(curve.Title + $": rows/s, {database} source -> embedded Kafka", Subtitle(curve, results));
        var points = curve.Points.Select(p => (p.X, Result: results[p.Point])).ToList();
        model.Axes.Add(XAxis(curve));
        var values = points.SelectMany(p => new[] { p.Result.RateMin, p.Result.RateMax, p.Result.LaunchRate }).Where(double.IsFinite).ToList();
        model.Axes.Add(YAxis("rows/s (rows acknowledged by Kafka per second)", values));

        var band = new AreaSeries { Title = "min-max of the runs", Color = OxyColor.FromAColor(60, OxyColors.SteelBlue), Fill = OxyColor.FromAColor(50, OxyColors.SteelBlue), StrokeThickness = 0 };
        band.Points.AddRange(points.Select(p => new DataPoint(p.X, p.Result.RateMin)));
        band.Points2.AddRange(points.Select(p => new DataPoint(p.X, p.Result.RateMax)));
        model.Series.Add(band);
        model.Series.Add(Line("median, first to last acknowledged row", OxyColors.SteelBlue, LineStyle.Solid, points.Select(p => new DataPoint(p.X, p.Result.Rate))));
        model.Series.Add(Line("median, from the connector's launch", OxyColors.DarkOrange, LineStyle.Dash, points.Select(p => new DataPoint(p.X, p.Result.LaunchRate))));
        Export(model, Path.Combine(folder, curve.File));
    }

    /// <summary>Draws the connector's peak resident set against the transaction size into <paramref name="file"/>.</summary>
    public static void WriteMemory(Curve curve, IReadOnlyDictionary<CurvePoint, PointResult> results, string folder, string file)
    {
        var model = Model("Memory: the connector's peak working set against transaction size", Subtitle(curve, results));
        var points = curve.Points.Select(p => (p.X, Result: results[p.Point])).ToList();
        model.Axes.Add(XAxis(curve));
        model.Axes.Add(YAxis("peak resident set, VmHWM (MiB)", [0, .. points.Select(p => p.Result.PeakMbMax)]));
        var band = new AreaSeries { Title = "min-max of the runs", Color = OxyColor.FromAColor(60, OxyColors.Firebrick), Fill = OxyColor.FromAColor(50, OxyColors.Firebrick), StrokeThickness = 0 };
        band.Points.AddRange(points.Select(p => new DataPoint(p.X, p.Result.PeakMbMin)));
        band.Points2.AddRange(points.Select(p => new DataPoint(p.X, p.Result.PeakMbMax)));
        model.Series.Add(band);
        model.Series.Add(Line("median peak resident set of the connector process", OxyColors.Firebrick, LineStyle.Solid, points.Select(p => new DataPoint(p.X, p.Result.PeakMb))));
        Export(model, Path.Combine(folder, file));
    }

    /// <summary>The Markdown table of a curve; <paramref name="logReader"/> names the server process's CPU time.</summary>
    public static string Table(Curve curve, IReadOnlyDictionary<CurvePoint, PointResult> results, string logReader)
    {
        var table = new StringBuilder();
        table.AppendLine(Invariant($"| {curve.Key} | columns | value | rows/tx | partitions | rows | rows/s (first to last ack) | min-max | rows/s from launch | payload MB/s | CPU ms per 1k rows: connector / {logReader} / Kafka | peak RSS MiB (min-max) | held | load |"));
        table.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---|---:|---|");
        foreach (var (label, _, point) in curve.Points)
        {
            var r = results[point];
            table.AppendLine(Invariant($"| {label} | {point.Columns} | {point.Value} B | {point.Transaction} | {point.Partitions} | {point.Rows} | {r.Rate:F0} | {r.RateMin:F0}-{r.RateMax:F0} | {r.LaunchRate:F0} | {r.PayloadMbPerSecond:F1} | {r.Cpu.Connector:F0} / {r.Cpu.Walsender:F0} / {r.Cpu.Bench:F0} | {r.PeakMb:F0} ({r.PeakMbMin:F0}-{r.PeakMbMax:F0}) | {r.Runs.Min(s => s.Held)} | {r.Loads} |"));
        }

        return table.AppendLine().ToString();
    }

    private static string Subtitle(Curve curve, IReadOnlyDictionary<CurvePoint, PointResult> results)
    {
        var runs = curve.Points.Select(p => results[p.Point]).ToList();
        var loads = runs.SelectMany(r => r.Runs).Select(s => double.Parse(s.Load, CultureInfo.InvariantCulture)).ToList();
        return Invariant($"median of {runs.Min(r => r.Runs.Count)} runs per point; {CpuModel()} x {Environment.ProcessorCount}; load average {loads.Min():F1}-{loads.Max():F1}; {DateTime.UtcNow:yyyy-MM-dd}");
    }

    private static PlotModel Model(string title, string subtitle)
    {
        var model = new PlotModel { Title = title, Subtitle = subtitle, Background = OxyColors.White, TitleFontSize = 16, SubtitleFontSize = 11 };
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.TopRight, LegendPlacement = LegendPlacement.Inside, LegendBackground = OxyColor.FromAColor(220, OxyColors.White), LegendBorder = OxyColors.Gray });
        return model;
    }

    private static LogarithmicAxis XAxis(Curve curve)
    {
        var xs = curve.Points.Select(p => p.X).ToList();
        return new LogarithmicAxis
        {
            Position = AxisPosition.Bottom,
            Title = curve.XTitle,
            Base = curve.LogBase,
            Minimum = xs.Min() / (curve.LogBase == 2 ? 1.3 : 1.6),
            Maximum = xs.Max() * (curve.LogBase == 2 ? 1.3 : 1.6),
            MajorGridlineStyle = LineStyle.Solid,
            MajorGridlineColor = OxyColor.FromAColor(40, OxyColors.Black),
            MinorGridlineStyle = LineStyle.None,
            StringFormat = "#,0",
        };
    }

    /// <summary>A log axis when the values span a decade or more, else a linear one from 0.</summary>
    private static Axis YAxis(string title, IReadOnlyList<double> values)
    {
        var positive = values.Where(v => v > 0).ToList();
        if (positive.Count > 0 && positive.Max() / positive.Min() >= 10)
        {
            return new LogarithmicAxis
            {
                Position = AxisPosition.Left,
                Title = title,
                Minimum = positive.Min() / 1.5,
                Maximum = positive.Max() * 1.5,
                MajorGridlineStyle = LineStyle.Solid,
                MajorGridlineColor = OxyColor.FromAColor(40, OxyColors.Black),
                StringFormat = "#,0",
            };
        }

        return new LinearAxis
        {
            Position = AxisPosition.Left,
            Title = title,
            Minimum = 0,
            Maximum = (positive.Count == 0 ? 1 : positive.Max()) * 1.15,
            MajorGridlineStyle = LineStyle.Solid,
            MajorGridlineColor = OxyColor.FromAColor(40, OxyColors.Black),
            StringFormat = "#,0",
        };
    }

    private static LineSeries Line(string title, OxyColor color, LineStyle style, IEnumerable<DataPoint> points)
    {
        var line = new LineSeries { Title = title, Color = color, LineStyle = style, StrokeThickness = 2, MarkerType = MarkerType.Circle, MarkerSize = 4, MarkerFill = color };
        line.Points.AddRange(points.Where(p => double.IsFinite(p.Y)));
        return line;
    }

    private static void Export(PlotModel model, string path)
    {
        using var stream = File.Create(path);
        new PngExporter { Width = Width, Height = Height, UseTextShaping = false }.Export(model, stream);
        Console.WriteLine($"# curves: wrote {path}");
    }
}
