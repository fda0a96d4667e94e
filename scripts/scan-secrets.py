#!/usr/bin/env python3
"""Greps every log line of the test suite for the test servers' passwords, as one more test result.

    scripts/scan-secrets.py RESULTS_DIR

The passwords: those of DATAMESH_PG_CONNECTION and DATAMESH_MARIADB_CONNECTION, and DATAMESH_TLS_PASSWORD (what
./build.sh servers exports). The lines: every file under RESULTS_DIR (the TRX files with their failure messages and
output, and RESULTS_DIR/logs, where the integration tests' hosts and connector processes write every line they log:
DATAMESH_TEST_LOGS), and the servers' own logs (DATAMESH_PG_LOG, DATAMESH_MARIADB_LOG).

Writes RESULTS_DIR/SecretScan/SecretScan.trx with one result, "No test server password appears in any log line of the
suite", and its exit-code file, for scripts/count-trx.py. It fails when a password appears (naming the file and line,
never the password) and when RESULTS_DIR/logs holds no line at all (the scan would prove nothing).
"""

import os
import re
import sys
import uuid
from xml.sax.saxutils import escape

NAME = "No test server password appears in any log line of the suite"


def password_of(connection_string):
    match = re.search(r"(?:^|;)\s*Password\s*=\s*([^;]*)", connection_string or "", re.IGNORECASE)
    return match.group(1).strip() if match else ""


def main():
    results = sys.argv[1]
    secrets = [s for s in (password_of(os.environ.get("DATAMESH_PG_CONNECTION")),
                           password_of(os.environ.get("DATAMESH_MARIADB_CONNECTION")),
                           os.environ.get("DATAMESH_TLS_PASSWORD", "")) if len(s) >= 8]
    files = []
    for folder, _, names in os.walk(results):
        files += [os.path.join(folder, n) for n in names if not n.startswith("SecretScan")]
    files += [f for f in (os.environ.get("DATAMESH_PG_LOG"), os.environ.get("DATAMESH_MARIADB_LOG")) if f and os.path.isfile(f)]

    problems = []
    lines = log_lines = 0
    for path in sorted(files):
        in_logs = os.path.commonpath([os.path.abspath(path), os.path.abspath(os.path.join(results, "logs"))]) == os.path.abspath(os.path.join(results, "logs"))
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                lines += 1
                log_lines += in_logs
                text = raw.decode("utf-8", "replace")
                for index, secret in enumerate(secrets):
                    if secret in text:
                        problems.append(f"password {index + 1} of the test servers appears in {path}, line {number}")
    if not secrets:
        problems.append("no test server password in the environment (DATAMESH_PG_CONNECTION, DATAMESH_MARIADB_CONNECTION, DATAMESH_TLS_PASSWORD): nothing to look for")
    if log_lines == 0:
        problems.append(f"{os.path.join(results, 'logs')} holds no log line: the scan would prove nothing")

    outcome = "Failed" if problems else "Passed"
    message = "\n".join(problems[:50])
    summary = f"scanned {lines} lines of {len(files)} files ({log_lines} lines of test hosts' logs) for {len(secrets)} passwords"
    print(f"secret scan: {summary}: {'FAILED' if problems else 'none found'}")
    for p in problems[:50]:
        print("  " + p)
    folder = os.path.join(results, "SecretScan")
    os.makedirs(folder, exist_ok=True)
    test_id, execution_id = uuid.uuid4(), uuid.uuid4()
    error = f"<Output><ErrorInfo><Message>{escape(message)}</Message></ErrorInfo></Output>" if problems else ""
    with open(os.path.join(folder, "SecretScan.trx"), "w", encoding="utf-8") as f:
        f.write(f"""<?xml version="1.0" encoding="utf-8"?>
<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010" id="{uuid.uuid4()}" name="SecretScan">
  <Results>
    <UnitTestResult executionId="{execution_id}" testId="{test_id}" testName="{escape(NAME)}" outcome="{outcome}">{error}</UnitTestResult>
  </Results>
  <ResultSummary outcome="{outcome}"><Output><StdOut>{escape(summary)}</StdOut></Output></ResultSummary>
</TestRun>
""")
    with open(os.path.join(folder, "exit-code"), "w", encoding="utf-8") as f:
        f.write(f"{1 if problems else 0} 0\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
