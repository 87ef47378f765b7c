"""Run the benchmarks and write ``benchmarks/RESULTS.md``.

Every ``benchmarks/bench_*.py`` module defines ``run(report: Report) -> None``. Each figure is
printed with a ratio to a floor or a peer measured in the same run, because this machine is
shared and noisy: an absolute time alone says little.

    python -m benchmarks.run            # all of them
    python -m benchmarks.run tickets    # only bench_tickets.py
"""

from __future__ import annotations

import importlib
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Report:
    """Sections of Markdown, printed as they come and written out at the end."""

    sections: list[str] = field(default_factory=list)

    def section(self, title: str, lines: list[str]) -> None:
        text = f"## {title}\n\n" + "\n".join(lines) + "\n"
        print(text, flush=True)
        self.sections.append(text)


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    report = Report()
    started = time.perf_counter()
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        module.run(report)
    header = (
        "# Benchmark results\n\n"
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"total {time.perf_counter() - started:.0f} s. Each figure stands beside a floor or a "
        "peer measured in the same run.\n\n"
    )
    if not argv:  # a partial run does not overwrite the full record
        (HERE / "RESULTS.md").write_text(header + "\n".join(report.sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
