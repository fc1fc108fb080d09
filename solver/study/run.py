"""Solving a study's scenarios: in this process, in local processes (`jobs`), or as Ray tasks.

Scenarios are cut into chunks of consecutive neighbours (solver/study/spec.py orders them so);
inside a chunk every solve is hinted with the previous plan and candidate evaluations are shared
(`solver.sweep.hinted_solves`). A worker receives the catalog once and keeps it, with its
price-multiplied variants, for every chunk it runs. A scenario that fails becomes a record with
status `error` and the reason; a worker that dies fails only its chunk. Records stream back through
`on_records` as chunks finish.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from solver.catalog.loader import Catalog
from solver.errors import InfeasibleError, InputError, Issue, NoSolutionError, TrilemmaError
from solver.study.spec import Scenario, priced_catalog

Record = dict[str, Any]

RESULT_COLUMNS = ("status", "usd_per_hour", "bound_usd_per_hour", "gap", "usd_per_month",
                  "usd_per_million_output_tokens", "configuration", "region", "ttft_ms_pred", "tpot_ms_pred",
                  "solve_time_s", "reason")
"""Columns of every record after `scenario`, `name` and the axis values."""

MAX_CHUNK = 25
"""Scenarios per task at most: long enough for warm starts to pay, short enough to stream."""


@dataclass(frozen=True)
class Backend:
    kind: str = "inline"
    """inline (this process), processes (`jobs` local processes) or ray."""
    jobs: int = 1
    ray_address: str | None = None
    """auto (an existing cluster, else a local instance), local (a new local instance) or an address."""


def region(result) -> str:
    """What a configuration-region map colours by: accelerator, parallelism and quantization per
    workload, without replica counts or offers (which move with every traffic step)."""
    return "; ".join(sorted({f"{c['accelerator']} tp{c['tp']}pp{c['pp']}ep{c['ep']} {c['quant']}"
                             for w in result.workloads for c in w["configs"]}))


def scenario_record(scenario: Scenario, outcome: Any) -> Record:
    """One results row: the scenario, then its status, cost, bound, configuration or failure."""
    from solver.optimize.solve import SolveResult
    from solver.sweep import summarise_result

    rec: Record = {"scenario": scenario.id, "name": scenario.name, **scenario.values}
    rec.update(dict.fromkeys(RESULT_COLUMNS, math.nan))
    rec.update(configuration="", region="", reason="")
    if isinstance(outcome, SolveResult):
        summary = summarise_result({}, outcome)
        rec.update({k: summary[k] for k in RESULT_COLUMNS if k in summary})
        rec["bound_usd_per_hour"] = outcome.best_bound_usd / outcome.horizon_hours
        rec["region"] = region(outcome)
    elif isinstance(outcome, InfeasibleError):
        rec.update(status="infeasible", reason=" ".join(outcome.explanation)[:500])
    elif isinstance(outcome, NoSolutionError):
        rec.update(status="time_limit", reason=str(outcome)[:500])
    else:
        rec.update(status="error", reason=_failure(outcome))
    return rec


def _failure(exc: BaseException) -> str:
    text = str(exc).replace("\n", "; ")
    return (text if isinstance(exc, TrilemmaError) else f"{type(exc).__name__}: {text}")[:500]


class _Worker:
    """What one worker keeps between chunks: the catalog and its price-multiplied variants."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.catalog: Catalog | None = None
        self.priced: dict[tuple, Catalog] = {}
        self.evaluations: dict[str, dict] = {}

    def set_catalog(self, token: str, catalog: Catalog) -> None:
        self.token, self.catalog, self.priced, self.evaluations = token, catalog, {}, {}

    def evaluation_cache(self, problem) -> dict:
        """Candidate evaluations kept across chunks, one cache per fleet: they depend on the fleet
        filters (which instance sizes exist), not on prices or traffic."""
        from solver.sweep import BoundedCache

        return self.evaluations.setdefault(problem.fleet.model_dump_json(), BoundedCache())

    def catalog_for(self, prices: tuple) -> Catalog:
        if prices not in self.priced:
            if len(self.priced) >= 64:
                self.priced.pop(next(iter(self.priced)))
            self.priced[prices] = priced_catalog(self.catalog, prices)
        return self.priced[prices]

    def run(self, scenarios: list[Scenario], time_limit_s: float | None, workers: int) -> Iterator[Record]:
        from solver.sweep import hinted_solves

        pairs = ((sc.problem, self.catalog_for(sc.prices)) for sc in scenarios)
        outcomes = hinted_solves(pairs, time_limit_s=time_limit_s, workers=workers, cache_for=self.evaluation_cache,
                                 catch=(Exception,))
        for sc, outcome in zip(scenarios, outcomes, strict=True):
            yield scenario_record(sc, outcome)


_WORKER = _Worker()


def _process_init(catalog: Catalog) -> None:
    _WORKER.set_catalog("process", catalog)


def _process_chunk(scenarios: list[Scenario], time_limit_s: float | None, workers: int) -> list[Record]:
    return list(_WORKER.run(scenarios, time_limit_s, workers))


def _ray_chunk(token: str, catalog_box: list, scenarios: list[Scenario], time_limit_s: float | None,
               workers: int) -> list[Record]:
    """A Ray task. The catalog comes boxed in a list so Ray does not fetch it for every task; a
    worker fetches it once per study."""
    if _WORKER.token != token:
        import ray

        _WORKER.set_catalog(token, ray.get(catalog_box[0]))
    return list(_WORKER.run(scenarios, time_limit_s, workers))


def chunks(scenarios: list[Scenario], jobs: int) -> list[list[Scenario]]:
    """Contiguous runs of neighbours, about 8 per worker, at most MAX_CHUNK scenarios each."""
    if not scenarios:
        return []
    size = max(1, min(MAX_CHUNK, math.ceil(len(scenarios) / (8 * jobs))))
    return [scenarios[i:i + size] for i in range(0, len(scenarios), size)]


def run_scenarios(scenarios: list[Scenario], catalog: Catalog, backend: Backend, *,
                  time_limit_s: float | None = None, workers: int = 1,
                  on_records: Callable[[list[Record]], None] | None = None) -> list[Record]:
    """Solve every scenario on `backend`; returns the records in completion order (also passed to
    `on_records` as they arrive). Each scenario's CP-SAT uses `workers` threads."""
    out: list[Record] = []

    def deliver(records: list[Record]) -> None:
        out.extend(records)
        if on_records:
            on_records(records)

    if backend.kind == "inline":
        worker = _Worker()
        worker.set_catalog("inline", catalog)
        for rec in worker.run(scenarios, time_limit_s, workers):
            deliver([rec])
    elif backend.kind == "processes":
        _run_processes(chunks(scenarios, backend.jobs), catalog, backend.jobs, time_limit_s, workers, deliver)
    elif backend.kind == "ray":
        _run_ray(scenarios, catalog, backend, time_limit_s, workers, deliver)
    else:
        raise ValueError(f"unknown backend {backend.kind!r}")
    return out


def _run_processes(parts, catalog, jobs, time_limit_s, workers, deliver) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=jobs, initializer=_process_init, initargs=(catalog,)) as pool:
        futures = {pool.submit(_process_chunk, part, time_limit_s, workers): part for part in parts}
        for future in as_completed(futures):
            try:
                records = future.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker fails its chunk, not the study
                records = [scenario_record(sc, exc) for sc in futures[future]]
            deliver(records)


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _connect_ray(backend: Backend):
    """Start or join Ray; returns (ray module, whether this call started the connection)."""
    if not ray_available():
        raise InputError([Issue("command line", "--ray", "Ray is not installed; pip install 'trilemma[ray]'")])
    import ray

    if ray.is_initialized():
        return ray, False
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    address = backend.ray_address or "auto"
    local = {"num_cpus": backend.jobs} if backend.jobs > 1 else {}
    try:
        if address == "local":
            ray.init(**local, **quiet)
        elif address == "auto":
            try:
                ray.init(address="auto", **quiet)
            except ConnectionError:
                ray.init(**local, **quiet)
        else:
            ray.init(address=address, **quiet)
    except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; all mean "cannot use this cluster"
        raise InputError([Issue("command line", "--ray", f"cannot start or join Ray at {address!r}: "
                                f"{type(exc).__name__}: {exc}")]) from None
    return ray, True


def _run_ray(scenarios, catalog, backend, time_limit_s, workers, deliver) -> None:
    ray, started = _connect_ray(backend)
    try:
        cpus = int(ray.cluster_resources().get("CPU", backend.jobs))
        parts = chunks(scenarios, max(1, cpus))  # sized for the cluster's CPUs, not this machine's
        task = ray.remote(num_cpus=1, max_retries=1)(_ray_chunk)
        box = [ray.put(catalog)]
        token = uuid.uuid4().hex
        pending = {task.remote(token, box, part, time_limit_s, workers): part for part in parts}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                part = pending.pop(ref)
                try:
                    records = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a failed task fails its chunk, not the study
                    records = [scenario_record(sc, exc) for sc in part]
                deliver(records)
    finally:
        if started:
            ray.shutdown()
