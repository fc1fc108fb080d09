"""PNG charts (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402


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
    styles = ["-", "--", ":", "-."]
    for i, (name, part) in enumerate(sched.drop_duplicates(["workload", "slot"]).groupby("workload")):
        ax2.step(list(starts) + [starts.iloc[-1] + slots["hours"].iloc[-1]],
                 list(part["traffic_rps"]) + [part["traffic_rps"].iloc[-1]], where="post",
                 label=f"{name} traffic", linewidth=1.8, color="black", linestyle=styles[i % len(styles)])
    ax2.set_ylabel("requests/s")
    ax2.set_ylim(bottom=0)
    ax.set_title(f"Replica schedule: {result.usd_per_hour:,.2f} USD/h average ({result.status})")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_frontier(sweep_result, path: Path) -> None:
    """Cost against the first swept dimension; a second SLO dimension (or rate) draws one curve per
    value. A frontier is drawn as steps (the cost at an SLO between two grid values is at most the
    cost at the tighter one), configuration changes annotated and the knee marked. A rate sweep alone
    is a cost curve: cost against load, with its own labels and no dominated points."""
    pts = sweep_result.points
    dims = sweep_result.dimensions
    x = dims[0]
    curve = sweep_result.kind == "cost_curve"
    series = [(None, pts)] if len(dims) == 1 else list(pts.groupby(dims[1]))
    fig, ax = plt.subplots(figsize=(9, 5))
    for value, part in series:
        part = part.sort_values(x)
        feasible = part[part["usd_per_hour"].notna()]
        front = feasible[feasible["on_frontier"]]
        label = ("optimal cost" if curve else "frontier") if value is None else f"{dims[1]} = {value:g}"
        ax.step(front[x], front["usd_per_hour"], where="pre" if curve else "post", marker="o", label=label)
        ax.scatter(feasible[~feasible["on_frontier"]][x], feasible[~feasible["on_frontier"]]["usd_per_hour"],
                   color="lightgray", s=12, zorder=1)
        previous = None
        for _, r in front.iterrows():
            config = str(r.get("configuration", "")).split(" (")[0]
            if config != previous:
                ax.annotate(config, (r[x], r["usd_per_hour"]), textcoords="offset points", xytext=(4, 6),
                            fontsize=7, rotation=20)
                previous = config
        knee = front[front.get("knee", False) == True]  # noqa: E712
        if len(knee):
            ax.scatter(knee[x], knee["usd_per_hour"], s=160, facecolors="none", edgecolors="red", label="knee")
    ax.set_xlabel(x.replace("_ms", " SLO (ms)").replace("rate", "requests/s (every workload)"))
    ax.set_ylabel("optimal cost (USD/h)")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.6g}"))
    ax.set_title("Cost against load: each point proven optimal" if curve
                 else "Cost of latency: each point proven optimal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
