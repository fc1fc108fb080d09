"""How wrong the performance model is, measured on held-out public cases, and the error bands it carries.

The headline is leave-one-source-out (LOSO): for each source s, every (engine, accelerator family)
profile that s's cases use is refitted from the priors on the cases of the *other* sources only, and s's
cases are predicted with it. A group with no case left after removing s takes its family's profile prior
(`catalogs/families.yaml`), itself fitted without s, or the plain prior. Profiles of a group are fitted
on that group's cases alone (`calibrate.fit_group`), so refitting only the groups s touches gives the
same held-out predictions as refitting everything, at a fraction of the cost.

Error of one prediction: APE = |predicted − measured| / measured · 100 %. A band is the distribution of
APE over a group's held-out predictions: n, median and 90th percentile (linear interpolation between
order statistics, `pandas.Series.quantile`). Groups are (engine, family, mode); the pooled band of a
metric is over every held-out prediction of that metric.

`band_for` gives an estimate the p90 of its group, or, when the group has fewer than `MIN_GROUP_CASES`
held-out predictions of that metric, the (engine, family) band over all modes, else the pooled band;
the fallback is labelled.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from solver.errors import CatalogError, EstimateError
from solver.perf.calibrate import (
    BOUNDS,
    FIT_PARAMS,
    MIN_FIT_CASES,
    PRIOR,
    _grp,
    _prior,
    _seed_catalog,
    _with_profile,
    compare,
    fit_group,
    groups,
    read_cases,
    source_of,
)
from solver.perf.estimate import estimate_many

VALIDATION_DIR = Path(__file__).resolve().parents[2] / "validation"
CASE_FILES = (VALIDATION_DIR / "cases.csv", VALIDATION_DIR / "cases_public.csv")
"""The calibration cases `validate` and `calibrate` read by default: the hand-kept cases and the public
transcriptions (validation/SOURCES.md)."""
ACCURACY_FILE = "accuracy.yaml"
BAND_METRICS = {"ttft_ms": "ttft_ms_band", "tpot_ms": "tpot_ms_band", "output_tok_s": "output_tok_s_band"}
"""Metric of `calibrate.METRICS` → the key of its band in `estimate --json`."""
MIN_GROUP_CASES = 3
"""Fewest held-out predictions for a group's own p90 to be used (below: fall back, labelled)."""


def skip_reason(case: dict) -> str:
    """Why the model cannot use a case ('' when it can): a layout field that is not a whole number."""
    try:
        int(float(case.get("dp") or 1))
    except ValueError:
        return f"dp: {case.get('dp')!r} is not a whole number"
    return ""


CLOSED_LOOP_BY_SOURCE = {
    ("dstack-deepseek-r1", "vllm"): "burst",
    ("dstack-deepseek-r1", "sglang"): "burst",
    ("inferencex", "vllm"): "burst",
    ("inferencex", "sglang"): "burst",
    ("inferencex", "trtllm"): "burst",
}
"""How a source's closed-loop runs started, where its notes say so (`solver.perf.closed_loop`). dstack's
online runs: `bench_serving.py --max-concurrency N` with every request issued at once and
`--random-range-ratio 1` (fixed lengths); its vLLM (0.7.4, before V1 became the default in 0.8.0:
https://docs.vllm.ai/en/v0.8.0/getting_started/v1_user_guide.html) and SGLang run prefill before decode
("By default, vLLM scheduler prioritizes prefills", quoted in https://github.com/vllm-project/vllm/pull/7874),
so the burst repeats every round. Its TensorRT-LLM rows (in-flight batching mixes prefill and decode) stay
steady. InferenceX's runs (`utils/bench_serving/benchmark_serving.py` at
SemiAnalysisAI/InferenceX@086eabbe8611b283b2bbec13ea527b99adec369f: request rate inf, `--max-concurrency N`)
issue every request at once, and draw lengths within [0.8·L, L], so a wave's requests finish within a
fifth of their decode and come back nearly together, in every engine. A `closed_loop` column in a cases
file wins over this table."""


VALIDATE_ONLY_SOURCES = {
    "dstack-deepseek-r1": (
        "engine builds from DeepSeek-R1's first two months (February-March 2025): vLLM 0.7.4 dev nightly on "
        "its V0 engine (V1 became the default in 0.8.0: https://docs.vllm.ai/en/v0.8.0/getting_started/"
        "v1_user_guide.html) and ROCm staging images (rocm/vllm-dev:vllm-ds3-staging-0217, "
        "rocm/sglang-staging:20250212), SGLang 0.4.3.post2, and TensorRT-LLM's pre-1.0 PyTorch backend; the "
        "kernel curves are measured on vLLM 0.24.0, SGLang 0.5.14 and TensorRT-LLM 1.3.0rc20 "
        "(AIConfigurator 0.12.0's database), so these runs would calibrate the serving derates of engines a "
        "year newer to builds 1.5-2x slower than those kernels"),
}
"""Sources whose cases are validated (and reported) but never used to fit a profile, with the reason."""


def load_cases(paths: list[Path] | tuple[Path, ...] = CASE_FILES) -> tuple[list[dict], list[dict]]:
    """(usable cases, skipped cases each with `skip_reason`) of every file, in file order."""
    usable, skipped = [], []
    for path in paths:
        if not Path(path).exists():
            raise EstimateError(f"{path}: no such file")
        for case in read_cases(Path(path)):
            case["cases_file"] = Path(path).name
            if source_of(case) in VALIDATE_ONLY_SOURCES:
                case["fit"] = False
            start = CLOSED_LOOP_BY_SOURCE.get((source_of(case), str(case.get("engine", "")).strip().lower()))
            if start and case.get("mode") == "concurrency" and not str(case.get("closed_loop") or "").strip():
                case["closed_loop"] = start
            why = skip_reason(case)
            if why:
                skipped.append({**case, "skip_reason": why})
            else:
                usable.append(case)
    return usable, skipped


def _family(catalog, accelerator: str) -> str:
    try:
        return catalog.lookup("accelerators", str(accelerator).strip().lower()).family
    except CatalogError:
        return "unknown"


def _engine(catalog, engine: str) -> str:
    try:
        return catalog.lookup("engines", str(engine).strip().lower()).id
    except CatalogError:
        return str(engine)


class _HeldOutFits:
    """Profile values per (group, held-out source), fitted from the priors without that source."""

    def __init__(self, cases: list[dict], catalog):
        self.catalog = catalog
        self.seeded = _seed_catalog(catalog)
        self.by_group = groups(cases, catalog)
        self.sources = {k: {source_of(c) for c in v} for k, v in self.by_group.items()}
        self.memo: dict[tuple, dict] = {}

    def params(self, key: tuple[str, str], held: str, depth: int = 0) -> dict:
        # A group the held-out source does not touch is fitted once, on all its cases.
        tag = held if held in self.sources.get(key, ()) else None
        if (key, tag) in self.memo:
            return self.memo[(key, tag)]
        train = [c for c in self.by_group.get(key, []) if source_of(c) != held]
        if len(train) >= MIN_FIT_CASES:
            values = fit_group(train, self.seeded, key[0], key[1]).params
        else:
            src = _prior(self.catalog, key)
            values = (self.params((src[0], src[1]), held, depth + 1) if src and depth < 4
                      else {k: float(np.clip(PRIOR[k], *BOUNDS[k])) for k in FIT_PARAMS})
        self.memo[(key, tag)] = values
        return values

    def catalog_without(self, held: str, keys: set[tuple[str, str]]):
        cat = self.seeded
        for key in sorted(keys):
            if key[0] in cat.engines and cat.engines[key[0]].settings is not None:
                cat = _with_profile(cat, key[0], key[1], self.params(key, held))
        return cat


def leave_one_source_out(cases: list[dict], catalog) -> pd.DataFrame:
    """Comparison rows (`calibrate.compare`) of every case predicted with profiles fitted without its
    source; columns `held_out` (the source) and `family` added."""
    fits = _HeldOutFits(cases, catalog)
    frames = []
    for src in sorted({source_of(c) for c in cases}):
        test = [c for c in cases if source_of(c) == src]
        keys = {k for c in test if (k := _grp(c, catalog)) is not None}
        cat = fits.catalog_without(src, keys)
        cmp = compare(test, estimate_many(test, cat))
        cmp["held_out"] = src
        frames.append(cmp)
    out = pd.concat(frames, ignore_index=True)
    return _annotate(out, cases, catalog)


def in_sample(cases: list[dict], catalog) -> pd.DataFrame:
    """Comparison rows with the catalog's profiles as they are (fitted on all cases)."""
    return _annotate(compare(cases, estimate_many(cases, catalog)), cases, catalog)


def _annotate(cmp: pd.DataFrame, cases: list[dict], catalog) -> pd.DataFrame:
    by_id = {c.get("case_id"): c for c in cases}
    cmp = cmp.copy()
    cmp["engine"] = [_engine(catalog, e) for e in cmp["engine"]]
    cmp["family"] = [_family(catalog, a) for a in cmp["accelerator"]]
    cmp["cases_file"] = [by_id.get(i, {}).get("cases_file", "") for i in cmp["case_id"]]
    return cmp


def _stats(ape: pd.Series) -> dict:
    e = ape.dropna()
    if not len(e):
        return {"n": 0, "median_pct": None, "p90_pct": None}
    return {"n": int(len(e)), "median_pct": round(float(e.median()), 1), "p90_pct": round(float(e.quantile(0.9)), 1)}


def band_table(cmp: pd.DataFrame) -> dict:
    """Pooled band per metric and bands per (engine, family, mode) and per (engine, family)."""
    metrics = sorted(cmp["metric"].unique())
    pooled = {m: _stats(cmp.loc[cmp["metric"] == m, "ape_pct"]) for m in metrics}

    def grouped(keys):
        out = []
        for vals, g in cmp.groupby(keys):
            entry = dict(zip(keys, vals, strict=True))
            entry.update({m: _stats(g.loc[g["metric"] == m, "ape_pct"]) for m in metrics
                          if (g["metric"] == m).any()})
            out.append(entry)
        return out

    return {"pooled": pooled, "groups": grouped(["engine", "family", "mode"]),
            "engine_family": grouped(["engine", "family"])}


def accuracy_document(cmp: pd.DataFrame, usable: list[dict], skipped: list[dict], files: list[Path]) -> dict:
    """The content of catalogs/accuracy.yaml."""
    predicted = cmp.dropna(subset=["ape_pct"])
    return {
        "generated_by": "trilemma validate --write-accuracy (leave-one-source-out); refit, do not hand-edit",
        "as_of": dt.date.today().isoformat(),
        "method": "leave-one-source-out: each source's cases predicted with profiles fitted without that source; "
                  "APE = |predicted - measured| / measured x 100; p90 by linear interpolation",
        "cases": {"files": [Path(f).name for f in files], "rows": len(usable) + len(skipped), "used": len(usable),
                  "skipped": len(skipped), "predicted_metrics": int(len(predicted)),
                  "not_predicted_metrics": int(len(cmp) - len(predicted)),
                  "sources": len({source_of(c) for c in usable})},
        "skipped": sorted({c["skip_reason"].split(":")[0] + ": " + str(len([s for s in skipped
                           if s["skip_reason"] == c["skip_reason"]])) + " rows" for c in skipped}),
        **band_table(cmp),
    }


def write_accuracy(doc: dict, path: Path | None = None) -> Path:
    import yaml

    from solver.catalog.loader import builtin_catalog_dir

    path = path or builtin_catalog_dir() / ACCURACY_FILE
    header = ("# Error bands of the performance model: held-out (leave-one-source-out) absolute percentage error on\n"
              "# validation/cases*.csv. Generated by `trilemma validate --write-accuracy`; do not hand-edit.\n")
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=110))
    return path


def load_accuracy(path: Path | None = None) -> dict | None:
    """The band table, or None when there is none (a user's own catalog directory without it)."""
    import yaml

    from solver.catalog.loader import builtin_catalog_dir

    path = path or builtin_catalog_dir() / ACCURACY_FILE
    if not path.exists():
        return None
    return yaml.safe_load(path.read_text())


def band_for(doc: dict | None, engine: str, family: str, mode: str) -> dict:
    """Per band key of `BAND_METRICS`: the p90 APE of (engine, family, mode) with the n behind it, or the
    labelled fallback (see the module docstring)."""
    out = {}
    for metric, key in BAND_METRICS.items():
        if doc is None:
            out[key] = {"p90_pct": None, "n": 0, "group": None,
                        "note": f"no {ACCURACY_FILE} in the catalog directory: error unknown"}
            continue
        own = _find(doc["groups"], engine=engine, family=family, mode=mode).get(metric, {"n": 0})
        if own.get("n", 0) >= MIN_GROUP_CASES:
            out[key] = {"p90_pct": own["p90_pct"], "n": own["n"], "group": f"{engine}/{family}/{mode}"}
            continue
        why = (f"no measured {metric} case for {engine}/{family}/{mode}" if own.get("n", 0) == 0 else
               f"only {own['n']} held-out {metric} case(s) for {engine}/{family}/{mode}")
        ef = _find(doc["engine_family"], engine=engine, family=family).get(metric, {"n": 0})
        if ef.get("n", 0) >= MIN_GROUP_CASES:
            out[key] = {"p90_pct": ef["p90_pct"], "n": ef["n"], "group": f"{engine}/{family} (all modes)",
                        "note": f"{why}; fallback: {engine}/{family} over all modes"}
        else:
            pooled = doc["pooled"].get(metric, {"n": 0, "p90_pct": None})
            out[key] = {"p90_pct": pooled["p90_pct"], "n": pooled["n"], "group": "pooled",
                        "note": f"{why}; fallback: pooled over every held-out case"}
    return out


def _find(entries: list[dict], **keys) -> dict:
    for e in entries:
        if all(e.get(k) == v for k, v in keys.items()):
            return e
    return {}


def with_bands(result: dict, catalog, doc: dict | None) -> dict:
    """`result` (one `estimate_many` row) plus its `ttft_ms_band`, `tpot_ms_band`, `output_tok_s_band`."""
    if result.get("error") or not result.get("accelerator"):
        return result
    family = _family(catalog, result["accelerator"])
    engine = _engine(catalog, result.get("engine") or "vllm")
    return {**result, **band_for(doc, engine, family, str(result.get("mode") or "max_throughput"))}


ISSUE_CLASSES = {
    "long prompts (input >= 5,000 tokens)": lambda r: r["isl"] >= 5000,
    "PCIe and NVL cards, L40S": lambda r: r["accelerator"] in ("h100-pcie", "h100-nvl", "l40s", "a100-80gb-pcie",
                                                                "a100-40gb-pcie", "h200-nvl"),
    "AMD": lambda r: str(r["accelerator"]).startswith("mi"),
    "closed loop (concurrency)": lambda r: r["mode"] == "concurrency",
    "static batch": lambda r: r["mode"] == "static_batch",
    "Mixtral": lambda r: str(r["model"]).startswith("mixtral"),
}
"""The failure classes of the accuracy report, as predicates on a comparison row (with its case's isl)."""


def class_table(cmp: pd.DataFrame, cases: list[dict]) -> pd.DataFrame:
    """Held-out n / median / p90 APE per (class, metric), plus 'all'."""
    isl = {c.get("case_id"): float(c.get("isl") or 0) for c in cases}
    df = cmp.assign(isl=[isl.get(i, 0.0) for i in cmp["case_id"]])
    rows = []
    for name, pred in {"all": lambda r: True, **ISSUE_CLASSES}.items():
        mask = df.apply(pred, axis=1) if len(df) else pd.Series([], dtype=bool)
        for metric, g in df[mask].groupby("metric"):
            rows.append({"class": name, "metric": metric, **_stats(g["ape_pct"])})
    return pd.DataFrame(rows)
