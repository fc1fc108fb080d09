"""PNG charts (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_schedule(result, path: Path) -> None:
    """Replicas per slot (stacked by workload) against time, with traffic on a second axis."""
    sched = result.plan.schedule.assign(total=lambda d: d["replicas"] + d["spot_replicas"])
    slots = sched.drop_duplicates("slot").sort_values("slot")
    starts = slots["hours"].cumsum() - slots["hours"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    bottom = None
    for name, part in sched.groupby("workload"):
        per_slot = part.groupby("slot")["total"].sum().reindex(slots["slot"]).fillna(0).to_numpy()
        ax.bar(starts, per_slot, width=slots["hours"], align="edge", bottom=bottom, label=f"{name} replicas",
               alpha=0.8, edgecolor="white")
        bottom = per_slot if bottom is None else bottom + per_slot
    ax.set_xlabel("hour")
    ax.set_ylabel("replicas")
    ax2 = ax.twinx()
    for name, part in sched.drop_duplicates(["workload", "slot"]).groupby("workload"):
        ax2.step(list(starts) + [starts.iloc[-1] + slots["hours"].iloc[-1]],
                 list(part["traffic_rps"]) + [part["traffic_rps"].iloc[-1]], where="post",
                 label=f"{name} traffic", linewidth=1.5)
    ax2.set_ylabel("requests/s")
    ax.set_title(f"Replica schedule: {result.usd_per_hour:,.2f} USD/h average ({result.status})")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
