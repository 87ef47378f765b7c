"""Run the benchmarks and write ``benchmarks/RESULTS.md``.

Every ``benchmarks/bench_*.py`` module defines ``run(report: Report) -> None``. Each figure is
printed with a ratio to a floor or a peer measured in the same run, because this machine is
shared and noisy: an absolute time alone says little.

    python -m benchmarks.run            # all of them (what `make bench` does)
    python -m benchmarks.run tickets    # only bench_tickets.py

RESULTS.md keeps one block per benchmark module, each stamped with when it ran and the machine's
load at the start; a run replaces the blocks of the modules it ran and keeps the others.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
_BLOCK = re.compile(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->\n", re.S)


@dataclass
class Report:
    """Sections of Markdown, printed as they come and written out at the end."""

    sections: list[str] = field(default_factory=list)

    def section(self, title: str, lines: list[str]) -> None:
        text = f"## {title}\n\n" + "\n".join(lines) + "\n"
        print(text, flush=True)
        self.sections.append(text)


def _blocks() -> dict[str, str]:
    if not RESULTS.exists():
        return {}
    return {m.group(1): m.group(2) for m in _BLOCK.finditer(RESULTS.read_text())}


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    blocks = _blocks()
    for name in names:
        report = Report()
        started = time.perf_counter()
        load = os.getloadavg()[0]
        module = importlib.import_module(f"benchmarks.bench_{name}")
        module.run(report)
        stamp = (
            f"_`bench_{name}` ran {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in "
            f"{time.perf_counter() - started:.0f} s; load average at start {load:.1f} "
            f"on {os.cpu_count()} cores._\n\n"
        )
        blocks[name] = stamp + "\n".join(report.sections)
        _write(blocks)
    return 0


def _write(blocks: dict[str, str]) -> None:
    header = (
        "# Benchmark results\n\n"
        f"Written by `make bench` (Python {platform.python_version()}, {platform.machine()}). "
        "Each figure stands beside a floor or a peer measured in the same run, because the "
        "machine is shared and noisy.\n\n"
    )
    body = "".join(
        f"<!-- bench:{k} -->\n{v}<!-- /bench:{k} -->\n\n" for k, v in sorted(blocks.items())
    )
    RESULTS.write_text(header + body)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
