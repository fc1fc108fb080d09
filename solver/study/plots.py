"""A study's charts (matplotlib, headless): cost against each axis, and the configuration regions
of a 2-D grid as a heat map."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

MAX_LINES = 8
"""Beyond this many values of the other axis, a cost chart shows the spread instead of one line each."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "axis"


def _numeric(values: pd.Series) -> bool:
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def plot_cost_by_axis(table: pd.DataFrame, axes: list[str], folder: Path, named: bool = False) -> list[Path]:
    """One chart per axis: USD/h against the axis value. With one other dimension (another axis,
    or the named scenarios) of few values, one line per value of it; otherwise every scenario as a
    dot and the median as a line."""
    written = []
    for axis in axes:
        other = [a for a in axes if a != axis] + (["name"] if named else [])
        fig, ax = plt.subplots(figsize=(8, 4.5))
        order = _order(table[axis])
        x_of = {v: i for i, v in enumerate(order)}
        xs = table[axis].map(x_of)
        if len(other) == 1 and table[other[0]].nunique() <= MAX_LINES:
            for value in _order(table[other[0]]):
                part = table[table[other[0]] == value]
                part = part.assign(x=xs[part.index]).sort_values("x")
                label = str(value) if other[0] == "name" else f"{other[0]} = {value}"
                ax.plot(part["x"], part["usd_per_hour"], marker="o", markersize=3, label=label)
            ax.legend(fontsize=8)
        else:
            ax.scatter(xs, table["usd_per_hour"], s=6, alpha=0.35, label="scenarios")
            median = table.assign(x=xs).groupby("x")["usd_per_hour"].median()
            ax.plot(median.index, median.to_numpy(), color="black", linewidth=1.8, label="median")
            if other:
                ax.legend(fontsize=8)
        _ticks(ax.set_xticks, ax.set_xticklabels, order)
        ax.set_xlabel(axis)
        ax.set_ylabel("USD/h (optimal)")
        missing = int(table["usd_per_hour"].isna().sum())
        note = f"; {missing} scenarios without a plan" if missing else ""
        ax.set_title(f"Cost against {axis}{note}", fontsize=10)
        ax.set_ylim(bottom=0)
        fig.tight_layout()
        path = folder / f"cost-vs-{_slug(axis)}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def plot_regions(table: pd.DataFrame, x_axis: str, y_axis: str, path: Path) -> Path:
    """Heat map of the chosen configuration (accelerator, parallelism, quantization) over a 2-D
    grid; cells without a plan are grey and labelled by status in the legend."""
    xs, ys = _order(table[x_axis]), _order(table[y_axis])
    regions = table["region"].where(table["region"].astype(bool) & table["usd_per_hour"].notna(),
                                    "(" + table["status"].astype(str) + ")")
    names = sorted(set(regions), key=lambda r: (r.startswith("("), r))
    code = {name: i for i, name in enumerate(names)}
    grid = np.full((len(ys), len(xs)), np.nan)
    x_of, y_of = {v: i for i, v in enumerate(xs)}, {v: i for i, v in enumerate(ys)}
    for (xv, yv), reg in zip(zip(table[x_axis], table[y_axis], strict=True), regions, strict=True):
        grid[y_of[yv], x_of[xv]] = code[reg]
    colours = [plt.get_cmap("tab20")(i % 20) for i in range(len(names))]
    colours = [(0.82, 0.82, 0.82, 1.0) if n.startswith("(") else c for n, c in zip(names, colours, strict=True)]
    cmap = ListedColormap(colours)
    fig, ax = plt.subplots(figsize=(10, 6))
    ax.imshow(grid, origin="lower", aspect="auto", cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5,
              interpolation="nearest")
    _ticks(ax.set_xticks, ax.set_xticklabels, xs)
    _ticks(ax.set_yticks, ax.set_yticklabels, ys)
    ax.set_xlabel(x_axis)
    ax.set_ylabel(y_axis)
    ax.set_title("Optimal configuration by scenario")
    handles = [Patch(color=colours[i], label=n) for i, n in enumerate(names)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_cost_by_scenario(table: pd.DataFrame, path: Path) -> Path:
    """Named scenarios without axes: one bar per scenario."""
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(table) + 2), 4.5))
    ax.bar(range(len(table)), table["usd_per_hour"].fillna(0), color="tab:blue")
    _ticks(ax.set_xticks, ax.set_xticklabels, list(table["name"]))
    ax.set_ylabel("USD/h (optimal)")
    ax.set_title("Cost by scenario (no bar: no plan)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_plots(table: pd.DataFrame, axes: list[str], named: list[str], folder: Path) -> list[Path]:
    """Every chart a study's shape allows: cost against each axis, configuration regions when the
    grid is 2-D (one map per named scenario), cost per scenario when there are no axes."""
    folder.mkdir(parents=True, exist_ok=True)
    if not axes:
        return [plot_cost_by_scenario(table, folder / "cost-by-scenario.png")]
    written = plot_cost_by_axis(table, axes, folder, named=bool(named))
    if len(axes) == 2:
        for name in named or [None]:
            part = table if name is None else table[table["name"] == name]
            suffix = "" if name is None else f"-{_slug(name)}"
            written.append(plot_regions(part, axes[0], axes[1], folder / f"regions{suffix}.png"))
    return written


def _order(values: pd.Series) -> list:
    """Distinct values, numerically sorted when they are numbers, else in first-seen order."""
    distinct = list(dict.fromkeys(values))
    if _numeric(values):
        return sorted(distinct, key=float)
    return distinct


def _ticks(set_ticks, set_labels, order: list) -> None:
    step = max(1, len(order) // 12)
    positions = list(range(0, len(order), step))
    set_ticks(positions)
    set_labels([f"{order[i]:g}" if isinstance(order[i], int | float) else str(order[i]) for i in positions],
               rotation=0 if len(positions) <= 8 else 45, fontsize=8)
