"""Studies: one base problem solved over a grid of axes and/or named scenarios (`trilemma study`).

- `spec`: the study file, path setting, price multipliers, expansion in neighbour order;
- `run`: solving scenarios in-process, in local processes or on Ray, failures kept per scenario;
- `results`: the resumable partial results file and the final CSV/Parquet table;
- `plots`: cost against each axis, configuration regions of a 2-D grid.

    plan, catalog = load_study("study.yaml")
    table = run_study(plan, catalog, Path("results.csv"), Backend("processes", jobs=2))
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from solver.catalog.loader import Catalog
from solver.errors import InputError, Issue
from solver.study.results import (
    PartialWriter,
    check_output,
    partial_path,
    read_partial,
    results_table,
    write_table,
)
from solver.study.run import Backend, Record, ray_available, run_scenarios
from solver.study.spec import StudyPlan, load_study

__all__ = ["Backend", "StudyPlan", "load_study", "run_study"]


def run_study(plan: StudyPlan, catalog: Catalog, out: Path, backend: Backend = Backend(), *,
              resume: bool = False, force: bool = False, time_limit_s: float | None = None, workers: int = 1,
              progress: Callable[[int, int], None] | None = None):
    """Solve every scenario not already in the partial results file, streaming each record to it,
    then write the table to `out` (CSV or Parquet) and remove the partial file. Returns the table.

    Without `resume`, an existing output or partial file is an error unless `force`."""
    check_output(out)
    if backend.kind == "ray" and not ray_available():
        raise InputError([Issue("command line", "--ray", "Ray is not installed; pip install 'trilemma[ray]'")])
    partial = partial_path(out)
    kept: list[Record] = []
    if resume and partial.exists():
        ids = {sc.id for sc in plan.scenarios}
        kept = [r for r in read_partial(partial, plan.fingerprint) if r["scenario"] in ids]
    elif not force and not resume and (partial.exists() or out.exists()):
        existing = partial if partial.exists() else out
        raise InputError([Issue("command line", "--out", f"{existing} exists; pass --resume to continue an "
                                "interrupted study or --force to start over")])
    done = {r["scenario"] for r in kept}
    todo = [sc for sc in plan.scenarios if sc.id not in done]
    total = len(plan.scenarios)
    writer = PartialWriter(partial, plan.fingerprint, total, kept)
    count = len(kept)
    if progress:
        progress(count, total)

    def on_records(records: list[Record]) -> None:
        nonlocal count
        writer.append(records)
        count += len(records)
        if progress:
            progress(count, total)

    try:
        new = run_scenarios(todo, catalog, backend, time_limit_s=time_limit_s or plan.spec.time_limit_s,
                            workers=workers, on_records=on_records)
    except BaseException:
        writer.close()
        if count == 0:  # nothing to resume from (Ray could not start, say): leave no file behind
            partial.unlink(missing_ok=True)
        raise
    writer.close()
    table = results_table(kept + new, plan.labels)
    write_table(table, out)
    partial.unlink(missing_ok=True)
    return table
