"""What every benchmark's figure does alike: matplotlib without a display, each panel
labelled the same way, the file written at one resolution.

matplotlib is imported only when a figure is drawn (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label(
    axis: Any,
    title: str,
    xlabel: str = "",
    ylabel: str = "",
    *,
    log: str = "",
    grid: bool = True,
) -> None:
    """Title, axis labels, log scales (``log``: "x", "y" or "xy"), a light grid and a small
    legend; call it once the panel is drawn."""
    if "x" in log:
        axis.set_xscale("log")
    if "y" in log:
        axis.set_yscale("log")
    if xlabel:
        axis.set_xlabel(xlabel)
    if ylabel:
        axis.set_ylabel(ylabel)
    axis.set_title(title)
    if grid:
        axis.grid(alpha=0.3)
    axis.legend(fontsize=8)


def on_stack(report: dict[str, Any], *more: str) -> str:
    """Where a stack benchmark ran, for a title: "on N cores (W worker x concurrency C)",
    with ``more`` inside the brackets."""
    config = report["config"]
    inside = ", ".join([f"{config['workers']} worker x concurrency {config['concurrency']}", *more])
    return f"on {report['machine']['cpus']} cores ({inside})"


def save(fig: Any, title: str, path: Path) -> None:
    """Give the figure its title, lay it out, write it to ``path`` and free it."""
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
