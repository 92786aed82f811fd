"""``make bench``: every section of the hub's benchmark, in one run.

Order: ``platform``, then ``bench/bench_certs.py`` as a subprocess
when it exists (it prints its own lines), then every other
``bench/bench_<name>.py`` exposing ``run(args) -> list[Figure | dict]``
(see bench/README.md). Each figure prints as one line

    <name>: <value> <unit> | baseline <name>: <value> | ratio <x.xx> (target >= y: ok)

and the whole run is written to bench/results/<timestamp>.json.
Exit status: 0 when every section ran, 1 when one failed (2 with
``--fail-below-target`` and a missed target), 3 without wrk.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_DIR,
    RESULTS_DIR,
    ROOT,
    VENV_BIN,
    BenchError,
    Figure,
    SkipSection,
    common_arguments,
    install_signal_handlers,
    require_wrk,
)

FIRST = "platform"
SUBPROCESS_SECTIONS = ("certs",)  # run as `python bench/bench_<name>.py`, they print their own lines
SUBPROCESS_TIMEOUT = 30 * 60

_NUMBER = r"-?[\d,]+(?:\.\d+)?(?:e-?\d+)?"
# The uniform line, whole: "<name>: <value> <unit>[ | baseline <name>: <value> | ratio <r>[ (...)]]".
_LINE = re.compile(
    rf"^(?P<name>[^|]+?): (?P<value>{_NUMBER}) (?P<unit>[A-Za-z%µ][\w/%.-]*)"
    rf"(?: \| baseline (?P<baseline_name>[^|]+?): (?P<baseline_value>{_NUMBER})"
    r" \| ratio (?P<ratio>[\d.]+|n/a)(?: \((?:target (?P<cmp>>=|<=) (?P<target>[\d.]+)[^)]*|informational)\))?)?$"
)


@dataclass
class SectionResult:
    name: str
    status: str = "ok"  # ok | skipped | failed
    reason: str = ""
    seconds: float = 0.0
    figures: list[Figure] = field(default_factory=list)
    output: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "seconds": round(self.seconds, 1),
            "figures": [f.as_dict() for f in self.figures],
            **({"output": self.output} if self.output else {}),
        }


def section_files() -> dict[str, Path]:
    """``bench_<name>.py`` files by section name, platform first, then certs, then by name."""
    found = {p.stem.removeprefix("bench_"): p for p in sorted(BENCH_DIR.glob("bench_*.py"))}
    order = [FIRST, *SUBPROCESS_SECTIONS]
    ranked = sorted(found, key=lambda n: (order.index(n) if n in order else len(order), n))
    return {n: found[n] for n in ranked}


def load_module(name: str) -> ModuleType:
    return importlib.import_module(f"bench.bench_{name}")


def to_figures(section: str, items: list[Any]) -> list[Figure]:
    figures = []
    for item in items:
        if isinstance(item, Figure):
            figures.append(item)
        elif isinstance(item, dict):
            figures.append(Figure.from_dict(section, item))
        else:
            raise BenchError(f"section {section} returned {type(item).__name__}, not a Figure or dict")
    return figures


def parse_line(section: str, line: str) -> Figure | None:
    """A figure from a subprocess section's uniform output line, if the line is one."""
    match = _LINE.match(line.strip())
    if match is None:
        return None

    def number(text: str | None) -> float | None:
        return float(text.replace(",", "")) if text else None

    return Figure(
        section=section,
        name=match.group("name"),
        value=float(match.group("value").replace(",", "")),
        unit=match.group("unit"),
        baseline_name=match.group("baseline_name"),
        baseline_value=number(match.group("baseline_value")),
        target=number(match.group("target")),
        comparison=">=" if match.group("cmp") != "<=" else "<=",
        reported_ratio=number(match.group("ratio")) if match.group("ratio") != "n/a" else None,
        details={"from_output": True},
    )


def run_subprocess_section(name: str, path: Path, args: argparse.Namespace) -> SectionResult:
    result = SectionResult(name)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        # Offered, not imposed: a subprocess section may read them.
        "BENCH_SECONDS": f"{args.seconds:g}",
        "BENCH_ROUNDS": str(args.rounds),
        "BENCH_POSTGRES": "1" if args.postgres else "",
    }
    python = VENV_BIN / "python"
    proc = subprocess.Popen(
        [str(python if python.exists() else sys.executable), str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            print("  " + line.rstrip(), flush=True)
            result.output.append(line.rstrip())
            figure = parse_line(name, line)
            if figure is not None:
                result.figures.append(figure)
            if time.monotonic() > deadline:
                raise BenchError(f"{path.name} ran longer than {SUBPROCESS_TIMEOUT} s")
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        from bench.common import stop_process_group

        stop_process_group(proc)
    if code != 0:
        result.status, result.reason = "failed", f"{path.name} exited with {code}"
    return result


def run_module_section(name: str, args: argparse.Namespace) -> SectionResult:
    result = SectionResult(name)
    module = load_module(name)
    runner = getattr(module, "run", None)
    if not callable(runner):
        result.status, result.reason = "skipped", f"bench_{name}.py has no run(args)"
        return result
    try:
        result.figures = to_figures(name, list(runner(args)))
    except SkipSection as exc:
        result.status, result.reason = "skipped", str(exc)
    for figure in result.figures:
        print(figure.line(), flush=True)
    return result


def build_parser(sections: dict[str, Path]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    common_arguments(parser)
    parser.add_argument(
        "--only",
        action="append",
        metavar="SECTION",
        help=f"run only this section (repeatable); sections here: {', '.join(sections)}",
    )
    parser.add_argument(
        "--fail-below-target", action="store_true", help="exit 2 when a figure misses its target"
    )
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/<timestamp>.json")
    # Sections may add their own flags (prefix them with the section name).
    for name in sections:
        if name in SUBPROCESS_SECTIONS:
            continue
        try:
            module = load_module(name)
        except Exception:  # reported when the section runs
            continue
        add = getattr(module, "add_arguments", None)
        if callable(add):
            add(parser)
    return parser


def environment_facts() -> dict[str, Any]:
    def version(cmd: list[str]) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "granian": version([str(VENV_BIN / "granian"), "--version"]),
        "wrk": version(["wrk", "--version"]),
    }


def main(argv: list[str] | None = None) -> int:
    install_signal_handlers()
    sections = section_files()
    args = build_parser(sections).parse_args(argv)
    require_wrk()
    wanted = list(sections)
    if args.only:
        unknown = [s for s in args.only if s not in sections]
        if unknown:
            print(f"bench: no section {', '.join(unknown)} (have: {', '.join(sections)})", file=sys.stderr)
            return 1
        wanted = [s for s in sections if s in args.only]

    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "args": {k: v for k, v in vars(args).items()},
        "environment": environment_facts(),
        "sections": [],
    }
    results: list[SectionResult] = []
    try:
        for name in wanted:
            print(f"== {name}", flush=True)
            t0 = time.monotonic()
            try:
                if name in SUBPROCESS_SECTIONS:
                    result = run_subprocess_section(name, sections[name], args)
                else:
                    result = run_module_section(name, args)
            except (Exception, BenchError) as exc:
                result = SectionResult(name, "failed", f"{type(exc).__name__}: {exc}")
                traceback.print_exc()
            result.seconds = time.monotonic() - t0
            if result.status != "ok":
                print(f"  {name}: {result.status}: {result.reason}", flush=True)
            results.append(result)
    finally:
        report["sections"] = [r.as_dict() for r in results]
        report["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        report["environment"]["loadavg_end"] = os.getloadavg()
        if not args.no_json and results:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            out = RESULTS_DIR / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
            out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
            print(f"results: {out.relative_to(ROOT)}")

    figures = [f for r in results for f in r.figures]
    if figures:
        print("== summary")
        for figure in figures:
            print(f"[{figure.section}] {figure.line()}")
    if any(r.status == "failed" for r in results):
        return 1
    if args.fail_below_target and any(f.passed is False for f in figures):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
