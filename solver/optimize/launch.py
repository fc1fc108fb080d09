"""The engine launch command of a chosen configuration, from the engine's catalog template."""

from __future__ import annotations

import string
from collections import defaultdict

from solver.catalog.loader import Catalog
from solver.problem import Workload


class _Blank(defaultdict):
    def __missing__(self, key: str) -> str:
        return ""


def effective_max_batch(row) -> int:
    """The cap on concurrent requests to launch with: the candidate's max batch, or fewer when the
    KV cache cannot hold that many (the performance model's `max_batch_effective`)."""
    cap = int(row["max_batch"])
    effective = row.get("max_batch_effective") if hasattr(row, "get") else None
    if effective is not None and effective == effective and effective >= 1:
        cap = min(cap, int(effective))
    return cap


def launch_command(catalog: Catalog, row, workload: Workload, port: int = 8000) -> str:
    """Fill `launch_template` with the replica's parallelism, batch limit and quantization flags.
    Template fields the catalog does not define are left empty rather than guessed."""
    engine = catalog.lookup("engines", row["engine"])
    model = catalog.models[row["model"]]
    fields = _Blank(str)
    fields.update(
        hf_id=model.hf_id, tp=int(row["tp"]), pp=int(row["pp"]), ep=int(row["ep"]),
        max_batch=effective_max_batch(row), max_model_len=workload.max_context(), port=port,
        quant=row["quant"], kv_quant=row["kv_quant"],
        quant_flags=engine.quant_flags.get(row["quant"], "") if row["quant"] != model.native_dtype else "",
        kv_quant_flags=engine.kv_quant_flags.get(row["kv_quant"], ""),
        ep_flags=engine.ep_flags if int(row["ep"]) > 1 else "",
    )
    text = string.Formatter().vformat(engine.launch_template, (), fields)
    return " ".join(text.split())
