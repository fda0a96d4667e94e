#!/usr/bin/env python3
"""Counts test results from the TRX files that ./build.sh test writes, one folder per test project.

    scripts/count-trx.py RESULTS_DIR PROJECT...

RESULTS_DIR/PROJECT/ holds PROJECT.trx (from `dotnet test --logger trx`) and exit-code, a line
"<dotnet test exit code> <seconds>" written by ./build.sh. Prints one line per project, then as the last line
exactly "N passed, N failed". Exit code 0 only if nothing failed and at least one test passed.

What counts as failed:
- every UnitTestResult whose outcome is Failed, Error, Timeout or Aborted (a data row of a theory is a result);
- a project with no TRX file (it did not build, or the test host never started): one failure;
- a TRX whose run outcome is failed/aborted/error, or a non-zero `dotnet test` exit code, with no failed
  result in it (the test host crashed, a hang was killed by --blame-hang-timeout): one failure.
- no test passed or failed in any project: one failure.
Skipped tests (NotExecuted) are reported, and count neither way.
"""

import os
import sys
import xml.etree.ElementTree as ET

FAILED_OUTCOMES = {"Failed", "Error", "Timeout", "Aborted"}
SKIPPED_OUTCOMES = {"NotExecuted", "Inconclusive", "NotRunnable", "Pending", "Disconnected", "Warning"}


def local(tag):
    return tag.rsplit("}", 1)[-1]


def read_exit_code(folder):
    try:
        with open(os.path.join(folder, "exit-code"), encoding="utf-8") as f:
            code, seconds = f.read().split()
            return int(code), int(seconds)
    except (OSError, ValueError):
        return None, None


def count_project(results_dir, project):
    """Returns (passed, failed, skipped, notes) for one project."""
    folder = os.path.join(results_dir, project)
    trx = os.path.join(folder, project + ".trx")
    code, _ = read_exit_code(folder)
    if not os.path.isfile(trx):
        reason = "did not build or run" if code not in (None, 0) else "produced no results"
        return 0, 1, 0, [f"no TRX file: {reason} (dotnet test exit code {code}), counted as 1 failure"]

    try:
        root = ET.parse(trx).getroot()
    except ET.ParseError as e:
        return 0, 1, 0, [f"unreadable TRX file ({e}), counted as 1 failure"]

    passed = failed = skipped = 0
    failed_names = []
    for element in root.iter():
        if local(element.tag) != "UnitTestResult":
            continue
        outcome = element.get("outcome", "")
        if outcome == "Passed":
            passed += 1
        elif outcome in FAILED_OUTCOMES:
            failed += 1
            failed_names.append(element.get("testName", "?"))
        elif outcome in SKIPPED_OUTCOMES:
            skipped += 1
        else:
            failed += 1
            failed_names.append(f"{element.get('testName', '?')} (outcome {outcome!r})")

    notes = [f"failed: {name}" for name in failed_names]
    run_outcome = ""
    for element in root.iter():
        if local(element.tag) == "ResultSummary":
            run_outcome = element.get("outcome", "")
            break
    run_failed = run_outcome.lower() in ("failed", "error", "aborted", "timeout")
    if failed == 0 and (run_failed or code not in (None, 0)):
        failed = 1
        notes.append(f"test run outcome {run_outcome or '?'}, dotnet test exit code {code} with no failed test"
                     " (test host crash or hang?), counted as 1 failure")
    return passed, failed, skipped, notes


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    results_dir, projects = argv[1], argv[2:]
    total_passed = total_failed = 0
    for project in projects:
        passed, failed, skipped, notes = count_project(results_dir, project)
        _, seconds = read_exit_code(os.path.join(results_dir, project))
        total_passed += passed
        total_failed += failed
        timing = f" in {seconds} s" if seconds is not None else ""
        extra = f", {skipped} skipped" if skipped else ""
        empty = "  (no tests)" if passed + failed + skipped == 0 else ""
        print(f"  {project}: {passed} passed, {failed} failed{extra}{timing}{empty}")
        for note in notes:
            print(f"    {note}")
    if total_passed + total_failed == 0:
        total_failed = 1
        print("  no test ran at all: counted as 1 failure")
    print(f"{total_passed} passed, {total_failed} failed")
    return 0 if total_failed == 0 and total_passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
