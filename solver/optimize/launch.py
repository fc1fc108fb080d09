"""The engine launch command of a chosen configuration, as one shell line (solver/deploy/engine_args.py
renders it; the emitted manifests use the same rendering)."""

from __future__ import annotations

from solver.catalog.loader import Catalog
from solver.deploy.engine_args import render_launch, shell_join, spec_from_config
from solver.errors import DeployError
from solver.problem import Workload


def effective_max_batch(row) -> int:
    """The cap on concurrent requests to launch with: the candidate's max batch, or fewer when the
    KV cache cannot hold that many (the performance model's `max_batch_effective`)."""
    cap = int(row["max_batch"])
    effective = row.get("max_batch_effective") if hasattr(row, "get") else None
    if effective is not None and effective == effective and effective >= 1:
        cap = min(cap, int(effective))
    return cap


def launch_command(catalog: Catalog, row, workload: Workload, port: int = 8000) -> str:
    """The replica's launch as a shell line (files the engine reads are written first, in the same line).
    A layout the engine cannot start as modelled gives a line saying why instead of a wrong command."""
    dp = row.get("dp") if hasattr(row, "get") else None
    spec = spec_from_config(
        catalog, engine=row["engine"], model=row["model"], quant=row["quant"], kv_quant=row["kv_quant"],
        tp=int(row["tp"]), dp=int(dp) if dp is not None and dp == dp else 1, pp=int(row["pp"]), ep=int(row["ep"]),
        max_batch=effective_max_batch(row), max_model_len=workload.max_context(), offer=row["offer"], port=port)
    gpus = row.get("gpus") if hasattr(row, "get") else None
    if gpus is not None and int(gpus) != spec.layout.gpus:
        return (f"# not startable as modelled: the row has {int(gpus)} GPUs per replica but tp·dp·pp = "
                f"{spec.layout.gpus}")
    try:
        launch = render_launch(catalog, spec)
    except DeployError as exc:
        return f"# not startable as modelled: {exc}"
    line = launch.shell()
    if launch.worker is not None:
        line += (f" ; # that is node 0 of {launch.nodes} (HEAD_NODE_IP = its address); on nodes NODE_RANK=1.."
                 f"{launch.nodes - 1}: {shell_join(launch.worker)}")
    return line
