"""A pytest plugin: the image test's numbers (image size, each container's start-to-ready
time) and, when it did not run, why, printed at the end of the run.

The tests record their lines with `record_property(REPORT, line)`; the reports carry them to
the controlling process, also under pytest-xdist, where this prints them.
"""

from __future__ import annotations

import pytest

REPORT = "image-report"
FOLDER = "tests/image/"

_lines: list[str] = []
_skipped: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Every phase's report carries the test's properties; the call's are enough.
    if report.when == "call":
        _lines.extend(str(value) for name, value in report.user_properties if name == REPORT)
    if report.skipped and report.nodeid.startswith(FOLDER) and isinstance(report.longrepr, tuple):
        _skipped.add(str(report.longrepr[2]).removeprefix("Skipped: "))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not (_lines or _skipped):
        return
    terminalreporter.write_sep("-", "container image")
    for reason in sorted(_skipped):
        terminalreporter.write_line(f"SKIPPED the image test: {reason}", yellow=True, bold=True)
    for line in _lines:
        terminalreporter.write_line(line)
