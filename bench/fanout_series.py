"""A series of fan-out runs, code against code: one table, one figure.

The machine's speed moves from minute to minute, so one run of ``fanout.py`` says little;
runs of two or more commits taken in turn say more. Each run is a folder that
``fanout.py --levels 1 --no-outbox --out FOLDER`` wrote (its ``fanout.json``), named on the
command line with the code it ran::

    python bench/fanout_series.py --name fanout-1206-sixth \\
        HEAD=/tmp/fo/head-1 987fc64=/tmp/fo/old-1 HEAD=/tmp/fo/head-2 ...

``NAME.md`` holds a row per run (in the order the runs started) and a row per code (median,
range, runs at issue 21's 4,000/s or more); ``NAME.json`` the same numbers; ``NAME.png``
deliveries/s per run, one marker per code. Runs of older code written by its own
``fanout.py`` lack some fields (the reference loop, per-process CPU): they show as "-".
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from plotting import label, pyplot, save
from runs import save_results

TARGET_PER_S = 4_000.0
STAND_INS = ("provider", "receiver")


@dataclass(frozen=True)
class Run:
    code: str
    started_at: str
    deliveries_per_s: float
    from_due_per_s: float
    cpu_per_1000_batchhook: float
    cpu_per_1000_all: float
    workers_over_stand_ins: float | None
    redis_over_stand_ins: float | None
    attempt_p50_ms: float
    reference_cpu_s: list[float] | None
    received_unique: int
    expected: int
    verify_failures: int
    duplicates: int


def read_run(code: str, folder: Path) -> Run:
    """The one-endpoint level of the ``fanout.json`` in ``folder``."""
    report = json.loads((folder / "fanout.json").read_text())
    level = next(lv for lv in report["levels"] if lv["endpoints_per_event"] == 1)
    cpu = level.get("cpu_s", {})
    workers = sum(v for k, v in cpu.items() if k.startswith("worker"))
    stand_ins = sum(cpu.get(name, 0.0) for name in STAND_INS)
    started = report.get("machine", {}).get("started_at") or datetime.fromtimestamp(
        (folder / "fanout.json").stat().st_mtime
    ).astimezone().isoformat(timespec="seconds")
    return Run(
        code=code,
        started_at=started,
        deliveries_per_s=level["deliveries_per_s"],
        from_due_per_s=level["deliveries_per_s_from_due"],
        cpu_per_1000_batchhook=level["cpu_s_per_1000_deliveries_batchhook"],
        cpu_per_1000_all=level["cpu_s_per_1000_deliveries_all"],
        workers_over_stand_ins=workers / stand_ins if stand_ins else None,
        redis_over_stand_ins=cpu.get("redis", 0.0) / stand_ins if stand_ins else None,
        attempt_p50_ms=level["attempt_latency_s"]["p50"] * 1000,
        reference_cpu_s=report.get("reference_cpu_s"),
        received_unique=level["received_unique"],
        expected=level["deliveries_expected"],
        verify_failures=level["verify_failures"],
        duplicates=level["duplicates"],
    )


def by_code(runs: list[Run]) -> dict[str, list[Run]]:
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.code, []).append(run)
    return groups


def code_summary(runs: list[Run]) -> dict[str, Any]:
    rates = [r.deliveries_per_s for r in runs]
    return {
        "runs": len(rates),
        "median_per_s": statistics.median(rates),
        "min_per_s": min(rates),
        "max_per_s": max(rates),
        "runs_at_target": sum(rate >= TARGET_PER_S for rate in rates),
        "median_cpu_per_1000_batchhook": statistics.median(r.cpu_per_1000_batchhook for r in runs),
        "median_cpu_per_1000_all": statistics.median(r.cpu_per_1000_all for r in runs),
    }


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _reference(run: Run) -> str:
    if not run.reference_cpu_s:
        return "-"
    return " / ".join(f"{s:.2f}" for s in run.reference_cpu_s)


def run_row(run: Run) -> str:
    return (
        f"| {run.started_at[11:16]} | `{run.code}` | {run.deliveries_per_s:,.0f} "
        f"| {run.from_due_per_s:,.0f} "
        f"| {run.cpu_per_1000_batchhook:.2f} / {run.cpu_per_1000_all:.2f} "
        f"| {_ratio(run.workers_over_stand_ins)} | {_ratio(run.redis_over_stand_ins)} "
        f"| {run.attempt_p50_ms:.0f} | {_reference(run)} |"
    )


def summary_row(code: str, summary: dict[str, Any]) -> str:
    return (
        f"| `{code}` | {summary['runs']} | {summary['median_per_s']:,.0f} "
        f"| {summary['min_per_s']:,.0f}-{summary['max_per_s']:,.0f} "
        f"| {summary['runs_at_target']} "
        f"| {summary['median_cpu_per_1000_batchhook']:.2f} "
        f"/ {summary['median_cpu_per_1000_all']:.2f} |"
    )


def markdown(report: dict[str, Any], runs: list[Run]) -> str:
    lines = [
        "`bench/fanout.py --levels 1 --no-outbox` (20,000 deliveries at one endpoint per "
        "event, each through its own poll), run after run, codes in turn.",
        "",
        "| UTC | code | deliveries/s | from due | CPU s per 1,000 (batchhook / all) "
        "| workers / stand-ins | Redis / stand-ins | attempt p50 (ms) "
        "| reference loop before / after (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *(run_row(run) for run in runs),
        "",
        "| code | runs | deliveries/s, median | range | runs at 4,000 or more "
        "| CPU s per 1,000, median (batchhook / all) |",
        "|---|---:|---:|---:|---:|---:|",
        *(summary_row(code, s) for code, s in report["codes"].items()),
        "",
        f"{report['runs_complete']} of {len(runs)} runs delivered every webhook; "
        f"{report['verify_failures']} verification failures and "
        f"{report['duplicates']} duplicates in all.",
        "",
    ]
    return "\n".join(lines)


def plot(runs: list[Run], path: Path) -> None:
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(8, 4.5))
    first = datetime.fromisoformat(runs[0].started_at)
    for code, group in by_code(runs).items():
        minutes = [
            (datetime.fromisoformat(r.started_at) - first).total_seconds() / 60 for r in group
        ]
        axis.plot(minutes, [r.deliveries_per_s for r in group], "o", label=code)
    axis.axhline(TARGET_PER_S, color="grey", linestyle="--", label="issue 21's 4,000/s")
    axis.set_ylim(bottom=0)
    label(
        axis,
        "one endpoint per event, through polls",
        "minutes from the first run",
        "deliveries/s (first to last receipt)",
    )
    save(fig, f"fan-out run after run, from {runs[0].started_at[:16]} UTC", path)


def build_report(named: list[tuple[str, Path]]) -> tuple[dict[str, Any], list[Run]]:
    runs = sorted((read_run(code, folder) for code, folder in named), key=lambda r: r.started_at)
    report = {
        "runs": [asdict(run) for run in runs],
        "codes": {code: code_summary(group) for code, group in by_code(runs).items()},
        "runs_complete": sum(run.received_unique == run.expected for run in runs),
        "verify_failures": sum(run.verify_failures for run in runs),
        "duplicates": sum(run.duplicates for run in runs),
    }
    return report, runs


def named_folder(text: str) -> tuple[str, Path]:
    code, sep, folder = text.partition("=")
    if not sep or not code or not folder:
        raise argparse.ArgumentTypeError(f"expected CODE=FOLDER, got {text!r}")
    if not (Path(folder) / "fanout.json").is_file():
        raise argparse.ArgumentTypeError(f"no fanout.json in {folder}")
    return code, Path(folder)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=named_folder, metavar="CODE=FOLDER")
    parser.add_argument("--name", default="fanout-series", help="results file name")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    report, runs = build_report(args.runs)
    save_results(args.out, args.name, report, markdown(report, runs), lambda p: plot(runs, p))
    return report


if __name__ == "__main__":
    main()
