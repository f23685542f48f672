"""How a benchmark run is set up and kept: its command line, the machine it ran on, a
quiet machine to run on, its log folder and its results files."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """The machine a run had: CPUs, their model, Python and the load average at start."""
    load1, load5, load15 = os.getloadavg()
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "loadavg_at_start": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def new_report(script: str, config: dict[str, Any]) -> dict[str, Any]:
    """A report's opening: the command that ran ``script``, the machine and ``config``."""
    command = " ".join(["python", f"bench/{script}", *sys.argv[1:]])
    return {"command": command, "machine": machine(), "config": config}


REFERENCE_LOOP = 20_000_000  # additions in reference_cpu_s: about a second here


def reference_cpu_s() -> float:
    """The CPU seconds a fixed pure-Python loop takes in this process now: how fast the
    machine is at the moment of a run (lower is faster). Here the same code's CPU per unit
    of work moves with it by a third within an hour, so runs compare only beside it."""
    started = time.process_time()
    total = 0
    for i in range(REFERENCE_LOOP):
        total += i
    return time.process_time() - started


def wait_until_quiet(max_load: float = 0.7, every_s: float = 30.0, limit_s: float = 3600) -> None:
    """Before a full run: wait while pytest runs or the 1-minute load is above ``max_load``."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        load1 = os.getloadavg()[0]
        pytest = subprocess.run(
            ["/usr/bin/pgrep", "-f", "pytest"], capture_output=True, check=False
        )
        if load1 <= max_load and pytest.returncode != 0:
            return
        print(f"waiting for a quiet machine: load {load1:.2f}, pytest running: "
              f"{pytest.returncode == 0}", flush=True)  # fmt: skip
        time.sleep(every_s)
    print("machine never got quiet; running anyway", flush=True)


@contextlib.contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"bh-bench-{prefix}-") as path:
        yield Path(path)


@contextlib.contextmanager
def log_folder(prefix: str, keep: Path | None) -> Iterator[Path]:
    """A temporary folder for logs, or ``keep`` (made if need be, left in place)."""
    if keep is None:
        with workspace(prefix) as path:
            yield path
    else:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep


def stack_line(report: dict[str, Any]) -> str:
    """How a stack benchmark ran, to open its table: the machine, its load and batchhook's
    processes."""
    config, machine = report["config"], report["machine"]
    return (
        f"Machine: {machine['cpus']} CPUs, load average at start "
        f"{machine['loadavg_at_start'][0]}. batchhook: web + {config['workers']} worker(s) x "
        f"--concurrency {config['concurrency']} + beat, one Redis"
    )


def save_results(
    out: Path, name: str, report: dict[str, Any], table: str, draw: Callable[[Path], None]
) -> None:
    """Write ``NAME.json`` (every number), ``NAME.md`` (the table) and ``NAME.png`` (via
    ``draw``) under ``out``, and print the table."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{name}.md").write_text(table)
    draw(out / f"{name}.png")
    print(table)


def options(doc: str, quick: str) -> argparse.ArgumentParser:
    """A benchmark's command line: described by the first line of ``doc``, with ``--quick``
    (``quick``: what a quick run does)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    return parser


def layout_options(parser: argparse.ArgumentParser, name: str) -> None:
    """The options of a benchmark that grows a load on one stack (scale.py, fanout.py)."""
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="--concurrency of each")
    parser.add_argument("--env", nargs="*", default=[], help="extra BATCHHOOK_X=Y for batchhook")
    parser.add_argument("--keep-logs", type=Path, default=None, help="keep logs in this folder")
    parser.add_argument("--name", default=name, help="results file name (without suffix)")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))


def run_and_save(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace], dict[str, Any]],
    markdown: Callable[[dict[str, Any]], str],
    plot: Callable[[dict[str, Any], Path], None],
) -> dict[str, Any]:
    """Run a ``layout_options`` benchmark (on a quiet machine unless ``--quick`` or
    ``--no-wait``) and save its results under ``--out`` as ``--name``."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on kill too
    if not args.quick and not args.no_wait:
        wait_until_quiet()
    report = run(args)
    save_results(args.out, args.name, report, markdown(report), lambda p: plot(report, p))
    return report


def stop_on_sigterm() -> None:
    """SIGTERM (and SIGINT, even when a shell started us in the background) unwinds
    like Ctrl-C, so every process started is stopped."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
