using Microsoft.Playwright;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.Server.Tests;

/// <summary>
/// The web page in a real headless Chromium (Debian's <c>chromium</c> package, which <c>./build.sh test</c> installs),
/// driven by Microsoft.Playwright with the browser's executable path: nothing is downloaded. A missing browser fails the
/// test, saying how to install it; it is never skipped. Screenshots go to <c>screenshots/</c> in the test's output folder.
/// </summary>
public sealed class PageTests(ITestOutputHelper output)
{
    /// <summary>Where Debian's package puts the browser; <c>DATAMESH_CHROMIUM</c> overrides it.</summary>
    public const string DefaultChromium = "/usr/lib/chromium/chromium";

    [Fact]
    public async Task From_the_page_a_validation_error_shows_at_its_line_then_a_pipeline_is_planned_applied_and_seen_running()
    {
        var chromium = Environment.GetEnvironmentVariable("DATAMESH_CHROMIUM") is { Length: > 0 } path ? path : DefaultChromium;
        if (!File.Exists(chromium))
        {
            throw new InvalidOperationException(
                $"Chromium is not installed at {chromium}: run ./build.sh test (it installs Debian's chromium) or apt-get install -y chromium; DATAMESH_CHROMIUM names another path.");
        }

        var shots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(shots);
        await using var host = await ControllerHost.StartAsync();
        await host.CreateTopicAsync("orders");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox"], // as root in a container, Chromium's sandbox cannot start
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = host.Url, ViewportSize = new ViewportSize { Width = 1280, Height = 1000 } });
        var consoleErrors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource", StringComparison.Ordinal))
            {
                consoleErrors.Add(message.Text);
            }
        };
        // The browser asks for /favicon.ico, which this server does not have; any other failed request is the page's.
        var failedRequests = new List<string>();
        page.Response += (_, response) =>
        {
            if (response.Status >= 400 && !response.Url.EndsWith("/favicon.ico", StringComparison.Ordinal))
            {
                failedRequests.Add($"{response.Status} {response.Request.Method} {response.Url}");
            }
        };
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync("/ui/");
        await Assertions.Expect(page.Locator("#summary")).ToContainTextAsync("Nothing is applied");

        // An invalid definition: the problem shows with its line, and the gutter marks that line.
        var editor = page.GetByLabel("Definition file");
        await editor.FillAsync(ControllerApiTests.Invalid);
        await page.GetByRole(AriaRole.Button, new() { Name = "Validate" }).ClickAsync();
        var problem = page.Locator("#problems li button", new() { HasText = "Line 4, column 5" });
        await Assertions.Expect(problem).ToContainTextAsync("did you mean 'sink'?");
        await Assertions.Expect(page.Locator("#gutter [data-line='4']")).ToHaveTextAsync("! 4");
        await Assertions.Expect(page.Locator("#gutter [data-line='4']")).ToHaveClassAsync("bad");
        await Assertions.Expect(page.Locator("#gutter [data-line='3']")).ToHaveTextAsync("3");
        await Assertions.Expect(page.Locator("#result")).ToContainTextAsync("2 problems");
        await page.ScreenshotAsync(new() { Path = Path.Combine(shots, "1-validation-error.png"), FullPage = true });

        // Keyboard: the problem's button takes the caret to line 4.
        await problem.FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        var caretLine = await editor.EvaluateAsync<int>("e => e.value.slice(0, e.selectionStart).split('\\n').length");
        Assert.Equal(4, caretLine);

        // A valid pipeline: validated with Ctrl+Enter, planned, applied, then seen running.
        await editor.FillAsync(ControllerApiTests.Pipeline());
        await editor.PressAsync("Control+Enter");
        await Assertions.Expect(page.Locator("#result")).ToContainTextAsync("Valid: 0 source(s), 1 pipeline(s)");
        await Assertions.Expect(page.Locator("#problems li")).ToHaveCountAsync(0);
        await page.GetByRole(AriaRole.Button, new() { Name = "Plan", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#plan-output .create").First).ToContainTextAsync("pipeline copy");
        await page.ScreenshotAsync(new() { Path = Path.Combine(shots, "2-plan.png"), FullPage = true });

        await page.GetByRole(AriaRole.Button, new() { Name = "Apply", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#result")).ToContainTextAsync("Applied: generation 1");
        var row = page.Locator("tr[data-component='pipeline/copy']");
        await Assertions.Expect(row.Locator("td.state")).ToHaveTextAsync("running", new() { Timeout = 60_000 });
        await Assertions.Expect(row.Locator("td.lag")).ToHaveTextAsync("0");
        await Assertions.Expect(page.Locator("#summary")).ToContainTextAsync("Generation 1");
        await Assertions.Expect(row.Locator("td.dead-letters")).ToHaveTextAsync("0");

        // A record the pipeline cannot read goes to its dead-letter topic, and the page counts it.
        await host.ProducePoisonAsync("orders");
        await Assertions.Expect(row.Locator("td.dead-letters")).ToHaveTextAsync("1", new() { Timeout = 60_000 });
        await page.ScreenshotAsync(new() { Path = Path.Combine(shots, "3-running.png"), FullPage = true });

        // Pause from the page, then the row says so.
        await row.GetByRole(AriaRole.Button, new() { Name = "pause pipeline/copy" }).ClickAsync();
        await Assertions.Expect(row.Locator("td.state")).ToHaveTextAsync("paused", new() { Timeout = 60_000 });
        await page.ScreenshotAsync(new() { Path = Path.Combine(shots, "4-paused.png"), FullPage = true });

        output.WriteLine($"screenshots in {shots}");
        Assert.Empty(consoleErrors);
        Assert.Empty(failedRequests);
    }

    [Fact]
    public async Task A_failed_component_has_a_resume_button_and_a_repeated_error_is_listed_once()
    {
        // A new user's pass: a failed source showed only Pause (resume restarts a failed component), and the errors list
        // filled with the same messages of two failing components at every poll. The status is the API's shape, served by
        // the test: a runner that fails on demand is not what is tested here.
        var chromium = Environment.GetEnvironmentVariable("DATAMESH_CHROMIUM") is { Length: > 0 } path ? path : DefaultChromium;
        await using var host = await ControllerHost.StartAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = chromium, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = host.Url });
        page.SetDefaultTimeout(30_000);
        const string Status = """
            {"generation":2,"applied_at":"2026-12-07T12:00:00Z","components":[
              {"component":"source/wh","desired":"running","lag":null,"runners":[{"runner":"r1","state":"failed","message":"server error 4052","current":true,"snapshot":[]}]},
              {"component":"pipeline/copy","desired":"running","lag":0,"runners":[{"runner":"r1","state":"refused","message":"cannot run generation 2","current":true}]}]}
            """;
        await page.RouteAsync("**/api/status", route => route.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = Status }));
        var resumes = 0;
        await page.RouteAsync("**/api/sources/wh/resume", route =>
        {
            resumes++;
            return route.FulfillAsync(new() { Status = 409, ContentType = "application/json", Body = """{"error":"not now"}""" });
        });

        await page.GotoAsync("/ui/");
        var row = page.Locator("tr[data-component='source/wh']");
        await Assertions.Expect(row.Locator("td.state")).ToHaveTextAsync("failed");
        await Assertions.Expect(row.GetByRole(AriaRole.Button, new() { Name = "pause source/wh" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("tr[data-component='pipeline/copy'] td.state")).ToHaveTextAsync("refused");

        for (var i = 0; i < 3; i++)
        {
            await row.GetByRole(AriaRole.Button, new() { Name = "resume source/wh" }).ClickAsync();
        }

        await Assertions.Expect(page.Locator("#errors li", new() { HasText = "resume source/wh: not now" })).ToHaveCountAsync(1);
        output.WriteLine(string.Join("\n", await page.Locator("#errors li").AllTextContentsAsync()));
        Assert.Equal(3, resumes);
    }
}
