"""Figures: performance profiles (best and last side by side) and AUP against cost.

matplotlib is imported only when a plot is drawn, with the non-interactive Agg backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgym.scoring.registry import BASELINE, display_model

if TYPE_CHECKING:
    from mlgym.scoring.report import ScoreReport

_LINE_STYLES = ("-", "--", "-.", ":")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plots need matplotlib: pip install 'mlgym-rs[scoring]' (or pass --no-plots)"
        ) from err
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, stem: Path, formats: Sequence[str]) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, bbox_inches="tight", dpi=150)
        out.append(path)
    return out


def _style(i: int, solver: str) -> dict[str, Any]:
    if solver == BASELINE:
        return {"color": "black", "linestyle": ":", "linewidth": 2.0}
    return {"color": f"C{i % 10}", "linestyle": _LINE_STYLES[(i // 10) % 4], "linewidth": 1.6}


def plot_performance_profiles(
    report: ScoreReport, stem: str | Path, formats: Sequence[str] = ("png", "pdf")
) -> list[Path]:
    """Best-attempt and last-attempt profiles side by side; returns the written files."""
    plt = _pyplot()
    n = report.runs_per_task
    label = f"@{n}" if n else ""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for ax, kind, profiles in (
        (axes[0], "Best attempt", report.best_profiles),
        (axes[1], "Last attempt", report.last_profiles),
    ):
        for i, solver in enumerate(report.solvers):
            ax.step(
                report.grid,
                profiles[solver],
                where="post",
                label=display_model(solver),
                **_style(i, solver),
            )
        ax.set_title(f"{kind} — Profile{label}")
        ax.set_xlabel(r"$\tau$ (log$_{10}$ of the performance ratio)")
        ax.set_xlim(0.0, report.horizon)
        ax.set_ylim(0.0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"fraction of tasks with log$_{10}$ ratio $\leq \tau$")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    try:
        return _save(fig, Path(stem), formats)
    finally:
        plt.close(fig)


def plot_aup_vs_cost(
    report: ScoreReport,
    costs: Mapping[str, float],
    stem: str | Path,
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Best AUP against mean cost per run (USD), one labelled point per model."""
    plt = _pyplot()
    models = [m for m in report.models if m in costs]
    if not models:
        return []
    n = report.runs_per_task
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, m in enumerate(report.solvers):
        if m not in models:
            continue
        x, y = costs[m], report.aup[m][0]
        ax.scatter([x], [y], color=f"C{i % 10}", s=50, zorder=3)
        ax.annotate(display_model(m), (x, y), textcoords="offset points", xytext=(5, 4))
    base = report.aup[BASELINE][0]
    ax.axhline(base, color="black", linestyle=":", label="Baseline")
    xs = [costs[m] for m in models]
    if min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("mean cost per run (USD)")
    ax.set_ylabel(f"Best AUP{'@' + str(n) if n else ''}")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    try:
        return _save(fig, Path(stem), formats)
    finally:
        plt.close(fig)
