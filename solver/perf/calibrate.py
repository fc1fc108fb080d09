"""Fit the few serving-level profile parameters to published end-to-end cases, and validate.

What is fitted, per (engine, accelerator family) with cases: the serving derates on the kernel-fitted
compute and memory efficiencies, the per-iteration step overhead, the per-request TTFT overhead and
the share of the isolated kernels' latency floors a served iteration pays (`kernel_floor_scale`).
Everything about shape (how GEMM, MoE, attention and collective efficiency change with size) comes from
the kernel fits and is not touched here. The objective is the sum over cases and measured metrics of
squared log errors, plus a weak pull towards the prior (kernel speed, 1 ms step, 5 ms TTFT overhead) so
that groups with two or three cases do not chase noise. Coordinate descent over a bounded log grid,
deterministic.

Metrics compared (means): output tokens/s (every mode that measures it), TTFT (not in max_throughput:
there it is the wait for a batch slot, set by how many requests the benchmark issued, which the case
does not give), TPOT (ITL where reported), e2e (static_batch: the whole batch).

Cases whose engine is an alias (NIM) are evaluated with the engine it maps to and count towards that
engine's fit.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from solver.catalog.schema import EfficiencyProfile
from solver.errors import CatalogError
from solver.perf.estimate import estimate_many

METRICS = {
    "output_tok_s": ("measured_output_tok_s", "output_tokens_per_s"),
    "ttft_ms": ("measured_ttft_ms", "ttft_ms"),
    "tpot_ms": ("measured_tpot_ms", "tpot_ms"),
    "e2e_ms": ("measured_e2e_ms", "e2e_ms"),
}
FIT_PARAMS = ("compute_efficiency", "memory_efficiency", "step_overhead_ms", "ttft_overhead_ms", "kernel_floor_scale")
PRIOR = {"compute_efficiency": 1.0, "memory_efficiency": 1.0, "step_overhead_ms": 1.0, "ttft_overhead_ms": 5.0,
         "kernel_floor_scale": 1.0}
BOUNDS = {"compute_efficiency": (0.3, 1.0), "memory_efficiency": (0.3, 1.0), "step_overhead_ms": (0.05, 20.0),
          "kernel_floor_scale": (0.25, 1.5),
          "ttft_overhead_ms": (0.5, 200.0)}
PRIOR_WEIGHT = 0.02
MIN_FIT_CASES = 5
"""A group with fewer cases is not fitted (five numbers on three rows chase their noise); it takes its
family's profile prior (`catalogs/families.yaml`)."""
DEFAULT_CASES = Path(__file__).resolve().parents[2] / "validation" / "cases.csv"
"""The published cases kept in the repository; each row's source_id and notes name its public source."""


def read_cases(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def source_of(case: dict) -> str:
    return str(case.get("source_id", "")).split("/")[0] or "unknown"


def compare(cases: list[dict], results: list[dict]) -> pd.DataFrame:
    """One row per (case, measured metric): predicted, measured, absolute percentage error."""
    rows = []
    for case, res in zip(cases, results, strict=True):
        for metric, (mcol, pcol) in METRICS.items():
            meas = _num(case.get(mcol))
            if meas is None:
                continue
            if metric == "ttft_ms" and case.get("mode") == "max_throughput":
                continue
            pred = res.get(pcol) if res.get("fits") else None
            ape = abs(pred - meas) / meas * 100 if pred is not None else np.nan
            rows.append({"case_id": case.get("case_id"), "source": source_of(case), "model": case.get("model"),
                         "accelerator": case.get("accelerator"), "engine": case.get("engine"),
                         "mode": case.get("mode"), "metric": metric, "measured": meas, "predicted": pred,
                         "ape_pct": ape, "ratio": (pred / meas) if pred else np.nan,
                         "fits": bool(res.get("fits")), "reason": res.get("reason", ""),
                         "tp": res.get("tp"), "pp": res.get("pp"), "ep": res.get("ep")})
    return pd.DataFrame(rows)


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def summarise(cmp: pd.DataFrame) -> dict:
    """Median and 90th-percentile APE per metric, per accelerator, per mode; unfit rows count as missing."""
    def stats(g):
        e = g["ape_pct"].dropna()
        return {"n": int(len(g)), "predicted": int(len(e)),
                "median_ape": round(float(e.median()), 1) if len(e) else None,
                "p90_ape": round(float(e.quantile(0.9)), 1) if len(e) else None,
                "within_2x": int(((g["ratio"] >= 0.5) & (g["ratio"] <= 2.0)).sum())}

    out = {"per_metric": {m: stats(g) for m, g in cmp.groupby("metric")}}
    out["per_accelerator"] = {f"{a}/{m}": stats(g) for (a, m), g in cmp.groupby(["accelerator", "metric"])}
    out["per_mode"] = {f"{a}/{m}": stats(g) for (a, m), g in cmp.groupby(["mode", "metric"])}
    out["per_source"] = {f"{a}/{m}": stats(g) for (a, m), g in cmp.groupby(["source", "metric"])}
    return out


@dataclass
class FitResult:
    engine: str
    family: str
    params: dict
    n_cases: int
    error: dict = field(default_factory=dict)


def _with_profile(catalog, engine_id: str, family: str, values: dict):
    """Shallow copy of the catalog whose (engine, family) profile carries `values`."""
    import copy

    cat = copy.copy(catalog)
    cat.engines = dict(catalog.engines)
    eng = cat.engines[engine_id]
    profiles = []
    found = False
    for p in eng.profiles:
        if family in p.families:
            found = True
            others = [f for f in p.families if f != family]
            if others:
                profiles.append(p.model_copy(update={"families": others}))
            profiles.append(p.model_copy(update={"families": [family], **values}))
        else:
            profiles.append(p)
    if not found:
        raise CatalogError([])
    cat.engines[engine_id] = eng.model_copy(update={"profiles": profiles})
    return cat


def _objective(cases, catalog, engine_id, family, values) -> float:
    cat = _with_profile(catalog, engine_id, family, values)
    res = estimate_many(cases, cat)
    cmp = compare(cases, res)
    r = np.log(cmp["ratio"].to_numpy(float))
    r = np.where(np.isfinite(r), r, np.log(3.0))  # an unfit case counts as off by 3x
    reg = sum((math.log(values[k]) - math.log(PRIOR[k])) ** 2 for k in values)
    return float(np.sum(r**2) + PRIOR_WEIGHT * len(r) * reg)


def fit_group(cases: list[dict], catalog, engine_id: str, family: str, rounds: int = 3) -> FitResult:
    prof = next(p for p in catalog.engines[engine_id].profiles if family in p.families)
    values = {k: float(np.clip(getattr(prof, k), *BOUNDS[k])) for k in FIT_PARAMS}
    best = _objective(cases, catalog, engine_id, family, values)
    for r in range(rounds):
        span = 0.5 / (2**r)
        for k in FIT_PARAMS:
            lo, hi = BOUNDS[k]
            grid = np.exp(np.log(values[k]) + np.linspace(-span, span, 7) * (3.0 if "overhead" in k else 1.0))
            for v in np.clip(grid, lo, hi):
                trial = {**values, k: float(v)}
                f = _objective(cases, catalog, engine_id, family, trial)
                if f < best - 1e-9:
                    best, values = f, trial
    cat = _with_profile(catalog, engine_id, family, values)
    cmp = compare(cases, estimate_many(cases, cat))
    err = {m: round(float(g["ape_pct"].median()), 1) for m, g in cmp.groupby("metric")}
    return FitResult(engine_id, family, {k: round(v, 4) for k, v in values.items()}, len(cases), err)


def groups(cases: list[dict], catalog) -> dict[tuple[str, str], list[dict]]:
    """Cases that fit profiles, per (engine id, accelerator family), aliases resolved (a case marked
    `fit: False`, from a validate-only source, is left out)."""
    out: dict[tuple[str, str], list[dict]] = {}
    for c in cases:
        if c.get("fit") is False:
            continue
        try:
            eng = catalog.lookup("engines", str(c["engine"]).strip().lower())
            acc = catalog.lookup("accelerators", str(c["accelerator"]).strip().lower())
        except CatalogError:
            continue
        out.setdefault((eng.id, acc.family), []).append(c)
    return out


def fit_all(cases: list[dict], catalog) -> tuple[object, list[FitResult]]:
    """Fit every (engine, family) group with cases; returns the updated catalog and the fits."""
    fits = []
    cat = catalog
    for (engine_id, family), group in sorted(groups(cases, catalog).items()):
        if catalog.engines[engine_id].settings is None or len(group) < MIN_FIT_CASES:
            continue
        fr = fit_group(group, cat, engine_id, family)
        cat = _with_profile(cat, engine_id, family, fr.params)
        fits.append(fr)
    return cat, fits


def validate(cases_path: Path, catalog) -> tuple[pd.DataFrame, dict]:
    cases = read_cases(cases_path)
    results = estimate_many(cases, catalog)
    cmp = compare(cases, results)
    return cmp, summarise(cmp)


def profile_with(prof: EfficiencyProfile, **kw) -> EfficiencyProfile:
    return prof.model_copy(update=kw)


# --- writing the fitted profiles into catalogs/engines.yaml ---------------------------------------
BEGIN = "    # BEGIN profiles (generated by `python -m solver.perf.calibrate --write`; refit, do not hand-edit)"
END = "    # END profiles"


def family_groups(catalog, engine_id: str) -> list[list[str]]:
    """One profile per family the engine supports, in the order of catalogs/families.yaml."""
    supported = {f for s in catalog.engines[engine_id].support for f in s.families}
    return [[f] for f in catalog.families if f in supported]


def _prior(catalog, key: tuple[str, str]) -> tuple[str, str, str] | None:
    """(engine, family, why) a group without cases copies (the family's `profile_priors`)."""
    family = catalog.families.get(key[1])
    prior = family.profile_priors.get(key[0]) if family else None
    return (prior.engine, prior.family, prior.why) if prior else None


def build_profiles(cases: list[dict], catalog, cases_label: str) -> tuple[dict[str, list[dict]], list[FitResult]]:
    """Fit every group with cases; derive the others from the families' profile priors; return YAML-ready
    dicts per engine, with fitted numbers only (the engine's hand-kept `settings` complete them)."""
    seeded = _seed_catalog(catalog)
    cat, fits = fit_all(cases, seeded)
    by_group = groups(cases, catalog)
    values: dict[tuple[str, str], tuple[dict, str, dict]] = {}
    for f in fits:
        sources = sorted({source_of(c) for c in by_group[(f.engine, f.family)]})
        values[(f.engine, f.family)] = (
            f.params,
            f"fitted to {f.n_cases} cases of {cases_label} ({', '.join(sources)}) by solver/perf/calibrate.py "
            f"(serving derates, step and TTFT overheads); kernel curves from catalogs/kernel_fits.yaml",
            f.error,
        )

    def resolve(key, depth=0):
        if key in values:
            return values[key]
        src = _prior(catalog, key)
        if src is None or depth > 4:
            return ({k: PRIOR[k] for k in FIT_PARAMS}, "prior: kernel-table speed, 1 ms step, 5 ms TTFT overhead "
                    "(no cases for this engine and family or a related one)", {})
        p, _, _ = resolve((src[0], src[1]), depth + 1)
        return (p, f"prior, not fitted: copied from the ({src[0]}, {src[1]}) profile ({src[2]}); "
                   f"see that profile's fitted_to", {})

    out: dict[str, list[dict]] = {}
    for eng in catalog.engines:
        if catalog.engines[eng].settings is None:
            continue  # hand-kept prior profiles, left as they are
        out[eng] = []
        for fams in family_groups(catalog, eng):
            params, why, err = resolve((eng, fams[0]))
            why = f"{why}. Kernel curves: {_kernel_note(catalog, fams[0])}"
            entry = {"families": fams, **{k: float(params[k]) for k in FIT_PARAMS},
                     "collective_latency_us": _alpha_us(catalog, fams[0], eng), "fitted_to": why}
            if err:
                entry["fit_error"] = err
            out[eng].append(entry)
    return out, fits


def _kernel_note(catalog, family: str) -> str:
    fam = catalog.families[family]
    if fam.kernel_tables_measured:
        return (f"kernel tables measured on this family ({fam.kernel_system}; GPUs listed in kernel_fits.yaml use "
                f"their own tables)")
    return (f"prior - no kernel data for {family}: the {fam.kernel_system} efficiencies, applied as fractions of "
            f"this GPU's own spec-sheet peaks (busbw scaled by its link bandwidth)")


def _alpha_us(catalog, family: str, framework: str) -> float:
    """8-GPU all-reduce α of the family's kernel system for this framework (kernel_fits.yaml); the
    model itself reads α per GPU count from the kernel fits, this records the value in the profile."""
    from solver.perf.kernels import load_kernel_fits

    table = load_kernel_fits()["systems"][catalog.families[family].kernel_system]["allreduce"]
    row = table.get(framework) or table.get("nccl") or {}
    sizes = sorted(int(k) for k in row)
    return float(row[sizes[-1]]["alpha_us"]) if sizes else 5.0


def _grp(case, catalog):
    try:
        return (catalog.lookup("engines", str(case["engine"]).lower()).id,
                catalog.lookup("accelerators", str(case["accelerator"]).lower()).family)
    except CatalogError:
        return None


def _seed_catalog(catalog):
    """Catalog whose engines carry prior profiles for every group (the starting point of the fit)."""
    import copy

    cat = copy.copy(catalog)
    cat.engines = dict(catalog.engines)
    for eng, engine in catalog.engines.items():
        if engine.settings is None and engine.profiles:
            continue  # a prior kept by hand with its own profiles (e.g. vllm-tpu): not calibrated
        if engine.settings is None:
            continue  # hand-kept profiles (no engine settings to seed from): kept as they are, not fitted
        profs = [EfficiencyProfile(families=f, **{k: PRIOR[k] for k in FIT_PARAMS}, collective_latency_us=5.0,
                                   **engine.settings.profile_fields(), kernel_framework=eng, fitted_to="prior")
                 for f in family_groups(catalog, eng)]
        cat.engines[eng] = engine.model_copy(update={"profiles": profs})
    return cat


def render_profiles(entries: list[dict]) -> str:
    import yaml

    body = yaml.safe_dump({"profiles": entries}, sort_keys=False, width=110, default_flow_style=None)
    lines = [BEGIN] + ["    " + ln if ln else ln for ln in body.rstrip("\n").splitlines()] + [END]
    return "\n".join(lines) + "\n"


def write_profiles(path: Path, profiles: dict[str, list[dict]]) -> None:
    """Replace (or add) the generated `profiles:` block of each engine in engines.yaml, nothing else."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    # Drop previous generated blocks.
    cleaned, skip = [], False
    for ln in lines:
        if ln.rstrip("\n") == BEGIN:
            skip = True
            continue
        if skip:
            if ln.rstrip("\n") == END:
                skip = False
            continue
        cleaned.append(ln)
    starts = [i for i, ln in enumerate(cleaned) if ln.startswith("  - id: ")]
    out = []
    for n, s in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(cleaned)
        block = cleaned[s:end]
        eid = block[0].split(":", 1)[1].strip()
        if n == 0:
            out.extend(cleaned[:s])
        trailing = []
        while block and not block[-1].strip():
            trailing.insert(0, block[-1])
            block = block[:-1]
        out.extend(block)
        hand_kept = any(ln.startswith("    profiles:") for ln in block)  # a prior kept by hand: leave it
        if eid in profiles and not hand_kept:
            out.append(render_profiles(profiles[eid]))
        if end < len(cleaned):
            out.append("\n")
        else:
            out.extend(trailing)
    path.write_text("".join(out))


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    from solver.catalog.loader import builtin_catalog_dir, load_catalog
    from solver.perf.accuracy import CASE_FILES, load_cases

    ap = argparse.ArgumentParser(description="Fit engine profiles to calibration cases.")
    ap.add_argument("--cases", type=Path, action="append",
                    help="cases CSV (repeatable; default: validation/cases.csv and validation/cases_public.csv)")
    ap.add_argument("--write", action="store_true", help="write the profiles into catalogs/engines.yaml")
    args = ap.parse_args(argv)
    catalog = load_catalog()
    files = args.cases or list(CASE_FILES)
    cases, skipped = load_cases(files)
    label = " + ".join(Path(f).name for f in files)
    if skipped:
        print(json.dumps({"skipped_rows": len(skipped), "why": sorted({c["skip_reason"] for c in skipped})}))
    profiles, fits = build_profiles(cases, catalog, label)
    for f in fits:
        print(json.dumps({"engine": f.engine, "family": f.family, "cases": f.n_cases, **f.params,
                          "median_ape": f.error}))
    if args.write:
        write_profiles(builtin_catalog_dir() / "engines.yaml", profiles)
        print("wrote engines.yaml profiles")


if __name__ == "__main__":
    main()
