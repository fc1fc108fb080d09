"""`trilemma estimate`: predict one deployment (or every row of a CSV) under a load mode.

Exactly one mode: --max-throughput, --concurrency N, --rate R, --static-batch N, or
--slo-ttft-ms X --slo-tpot-ms Y [--percentile P]. Omitted tp/dp/pp/ep are chosen to maximise throughput
for the mode and reported. `--batch cases.csv` evaluates every row (columns: the flag names with
underscores, plus `mode` and `mode_value`); a row that cannot be evaluated gives fits=false and an
`error`, and the batch carries on. With `--json`, each result carries `ttft_ms_band`, `tpot_ms_band` and
`output_tok_s_band`: the held-out p90 error of its (engine, family, mode) from catalogs/accuracy.yaml and
the n behind it, or a labelled fallback (`solver.perf.accuracy.band_for`).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from solver.catalog.loader import load_catalog
from solver.cli import app
from solver.cli.common import CLI, CatalogFiles, fmt_number, parse_percentile, stdout_console
from solver.errors import EstimateError, InputError, Issue
from solver.percentiles import MEAN
from solver.quants import KV_QUANTS, WEIGHT_QUANTS

MEAN_PERCENTILE = 0.0
"""`solver.perf.serving.MEAN_PERCENTILE` (not imported: the performance model loads only when estimating)."""

SUMMARY = ("fits", "saturated", "tp", "dp", "pp", "ep", "moe_tp", "replicas", "quant", "kv_quant", "batch",
           "memory_gb_per_gpu", "ttft_ms", "ttft_p99_ms", "tpot_ms", "tpot_p99_ms", "e2e_ms", "requests_per_s",
           "output_tokens_per_s", "output_tokens_per_s_per_gpu", "reason")
BATCH_REQUIRED = ("model", "accelerator", "isl", "osl")
BATCH_COLUMNS = ("case_id", "model", "accelerator", "engine", "gpus", "tp", "dp", "pp", "ep", "quant", "kv_quant",
                 "isl",
                 "osl", "mode", "mode_value", "slo_ttft_ms", "slo_tpot_ms", "percentile", "max_batch")
"""The `--batch` CSV format (validation/cases.csv); other columns are ignored."""
MAX_BATCH_BYTES = 20_000_000
"""Largest `--batch` file read (about 100,000 rows)."""
QUANT_CHOICES = (*WEIGHT_QUANTS, "best")


def _print_table(results: list[dict]) -> None:
    if len(results) == 1:
        table = Table(title="trilemma estimate", show_header=True)
        table.add_column("field")
        table.add_column("value", justify="right")
        keys = list(SUMMARY)
        at = [k for k in results[0] if k.startswith(("ttft_", "tpot_")) and k not in SUMMARY
              and k.split("_")[1] not in ("p50", "p90", "p99", "at")]
        keys[keys.index("tpot_p99_ms") + 1:keys.index("tpot_p99_ms") + 1] = at
        for k in ("model", "accelerator", "engine", "gpus", "mode", "mode_value", *keys, "error"):
            if k in results[0]:
                table.add_row(k, fmt_number(results[0][k]))
    else:
        table = Table(title=f"trilemma estimate: {len(results)} rows")
        cols = ("model", "accelerator", "engine", "gpus", "mode", "mode_value", *SUMMARY)
        for c in cols:
            table.add_column(c)
        for r in results:
            table.add_row(*(fmt_number(r.get(c)) for c in cols))
    stdout_console().print(table)
    if len(results) == 1 and results[0].get("breakdown"):
        _print_breakdown(results[0]["breakdown"])


def _length_mix(isl_dist, osl_dist, isl, osl):
    """The --isl-dist / --osl-dist distributions as one LengthMix (None when neither is given)."""
    if isl_dist is None and osl_dist is None:
        return None
    from solver.lengths import parse_spec
    from solver.perf.lengths import LengthMix

    def points(spec, mean, flag, column):
        if spec is None:
            if mean is None:
                raise EstimateError(f"estimate: missing {flag} (or {flag}-dist)")
            return ((float(mean), 1.0),)
        try:
            return parse_spec(spec).points(column)
        except ValueError as exc:
            raise EstimateError(f"estimate: {flag}-dist {exc}") from None

    return LengthMix(points(isl_dist, isl, "--isl", 0), points(osl_dist, osl, "--osl", 1))


def _spread(result: dict, mix, catalog) -> list[dict]:
    """Percentiles of the distribution against those of its mean, at the estimate's rate per replica."""
    from solver.perf.spread import spread_table

    config = {k: result[k] for k in ("model", "accelerator", "engine", "quant", "kv_quant", "tp", "pp", "ep")}
    config["max_batch"] = result.get("max_batch_effective") or float("nan")
    try:
        return spread_table(config, mix, result["requests_per_s"] / result["replicas"], catalog)
    except ValueError as exc:
        raise EstimateError(f"estimate: {exc}") from None


def _print_spread(rows: list[dict], rate: float) -> None:
    table = Table(title=f"Length distribution vs its mean, at {rate:.3g} req/s per replica")
    for c in ("metric", "percentile", "distribution ms", "mean lengths ms", "ratio"):
        table.add_column(c, justify="right")
    for r in rows:
        table.add_row(r["metric"].upper(), f"p{r['percentile']:g}", fmt_number(r["distribution_ms"]),
                      fmt_number(r["mean_ms"]), f"{r['ratio']:.2f}x")
    stdout_console().print(table)


def _print_breakdown(breakdown: dict) -> None:
    """Where the time and memory go: iteration ms by part, TTFT ms by part, memory GB per GPU by part."""
    titles = {"decode_step_ms": "decode step, ms (total = mean TPOT)",
              "prefill_step_ms": "iteration prefilling one prompt, ms", "ttft_ms": "mean TTFT, ms",
              "memory_gb_per_gpu": "memory per GPU, GB"}
    table = Table(title="breakdown")
    table.add_column("of")
    table.add_column("part")
    table.add_column("value", justify="right")
    for group, parts in breakdown.items():
        for i, (part, v) in enumerate(parts.items()):
            table.add_row(titles.get(group, group) if i == 0 else "", part, fmt_number(v), end_section=part == "total")
    stdout_console().print(table)


def _label_percentile(result: dict, percentile) -> dict:
    """`ttft_at_percentile_ms` -> `ttft_p95_ms` (or `ttft_mean_ms`): the requested percentile by name."""
    label = "mean" if percentile in (MEAN, MEAN_PERCENTILE) else f"p{float(percentile):g}".replace(".", "_")
    out = {}
    for k, v in result.items():
        if k.endswith("_at_percentile_ms"):
            out[k.replace("at_percentile", label)] = v
        elif k == "percentile" and v == MEAN_PERCENTILE:
            out[k] = MEAN
        else:
            out[k] = v
    return out


def _check_values(gpus, tp, pp, ep, quant, kv_quant, max_batch, isl, osl, dp=None) -> None:
    """Refuse values the model would silently bend (`--gpus 0` read as 1, an unknown `--quant`)."""
    issues = []
    for name, v in (("--gpus", gpus), ("--tp", tp), ("--dp", dp), ("--pp", pp), ("--ep", ep),
                    ("--max-batch", max_batch)):
        if v is not None and v < 1:
            issues.append(Issue(CLI, name, f"got {v}; allowed: a whole number ≥ 1"))
    for name, v in (("--isl", isl), ("--osl", osl)):
        if v is not None and not (math.isfinite(v) and 1 <= v <= 10_000_000):
            issues.append(Issue(CLI, name, f"got {v}; allowed: tokens from 1 to 10,000,000"))
    if quant is not None and quant.lower() not in QUANT_CHOICES:
        issues.append(Issue(CLI, "--quant", f"got {quant!r}; allowed: {', '.join(QUANT_CHOICES)}"))
    if kv_quant is not None and kv_quant.lower() not in KV_QUANTS:
        issues.append(Issue(CLI, "--kv-quant", f"got {kv_quant!r}; allowed: {', '.join(KV_QUANTS)}"))
    if issues:
        raise InputError(issues)


def _mode(max_throughput, concurrency, rate, static_batch, slo_ttft_ms, slo_tpot_ms) -> tuple[str, float | None]:
    issues = [Issue(CLI, name, f"got {v:g}; allowed: a finite number > 0")
              for name, v in (("--concurrency", concurrency), ("--rate", rate), ("--static-batch", static_batch),
                              ("--slo-ttft-ms", slo_ttft_ms), ("--slo-tpot-ms", slo_tpot_ms))
              if v is not None and not (math.isfinite(v) and 0 < v <= 1e12)]
    if issues:
        raise InputError(issues)
    chosen = [name for name, v in (("max_throughput", max_throughput or None), ("concurrency", concurrency),
                                   ("rate", rate), ("static_batch", static_batch)) if v is not None]
    if slo_ttft_ms is not None or slo_tpot_ms is not None:
        chosen.append("slo")
    if len(chosen) != 1:
        raise EstimateError("estimate: give exactly one mode: --max-throughput, --concurrency N, --rate R, "
                            "--static-batch N, or --slo-ttft-ms X --slo-tpot-ms Y"
                            + (f" (got {', '.join(chosen)})" if chosen else ""))
    mode = chosen[0]
    value = {"concurrency": concurrency, "rate": rate, "static_batch": static_batch}.get(mode)
    return mode, value


@app.command("estimate")
def estimate_cmd(
    model: Annotated[str | None, typer.Option("--model", help="Model id from the catalog.")] = None,
    accelerator: Annotated[str | None, typer.Option("--accelerator", help="Accelerator id.")] = None,
    gpus: Annotated[int | None, typer.Option("--gpus", help="GPUs in total; more than tp·dp·pp = replicas.")] = None,
    tp: Annotated[int | None, typer.Option("--tp", help="Tensor parallel size (chosen when omitted).")] = None,
    pp: Annotated[int | None, typer.Option("--pp", help="Pipeline parallel size (chosen when omitted).")] = None,
    ep: Annotated[int | None, typer.Option(
        "--ep", help="Expert parallel size: MoE layers split the tp·dp GPUs of a stage as moe_tp × ep "
                     "(MoE only; chosen when omitted).")] = None,
    dp: Annotated[int | None, typer.Option(
        "--dp", help="Attention data-parallel ranks per stage, each tp GPUs with its own requests and KV "
                     "cache (GPUs per replica = tp·dp·pp; chosen when omitted).")] = None,
    quant: Annotated[str | None, typer.Option(
        "--quant", help="Weights: bf16|fp16|fp8|int8|int4|fp4|mxfp4|best (default: the checkpoint's dtype).")] = None,
    kv_quant: Annotated[str | None, typer.Option("--kv-quant", help="KV cache: bf16|fp16|fp8.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="vllm|sglang|trtllm (or an alias).")] = "vllm",
    isl: Annotated[float | None, typer.Option("--isl", help="Mean input tokens per request.")] = None,
    osl: Annotated[float | None, typer.Option("--osl", help="Mean output tokens per request.")] = None,
    isl_dist: Annotated[str | None, typer.Option(
        "--isl-dist", help="Prompt length distribution: lognormal:MEAN:P99, buckets:TOKENSxWEIGHT,..., "
                           "quantiles:PCT=TOKENS,... or csv:PATH (its mean is --isl); reports percentiles "
                           "against the mean's.")] = None,
    osl_dist: Annotated[str | None, typer.Option(
        "--osl-dist", help="Output length distribution, the same forms as --isl-dist.")] = None,
    max_throughput: Annotated[bool, typer.Option("--max-throughput", help="Offline, no latency limit.")] = False,
    concurrency: Annotated[float | None, typer.Option("--concurrency", help="Closed loop: requests in flight.")] = None,
    closed_loop: Annotated[str, typer.Option(
        "--closed-loop", help="With --concurrency: steady (arrivals spread over the cycle) or burst (every client "
                              "sends at t = 0 and fixed lengths keep them in lockstep).")] = "steady",
    rate: Annotated[float | None, typer.Option("--rate", help="Poisson arrivals, requests/s.")] = None,
    static_batch: Annotated[float | None, typer.Option("--static-batch", help="One batch of N requests.")] = None,
    slo_ttft_ms: Annotated[float | None, typer.Option("--slo-ttft-ms", help="TTFT limit at the percentile.")] = None,
    slo_tpot_ms: Annotated[float | None, typer.Option("--slo-tpot-ms", help="TPOT limit at the percentile.")] = None,
    percentile: Annotated[str | None, typer.Option(
        "--percentile", help="Percentile of the SLOs (50 to 99.9, default 99), or mean.")] = None,
    max_batch: Annotated[int | None, typer.Option("--max-batch", help="Most requests decoding at once.")] = None,
    batch: Annotated[Path | None, typer.Option("--batch", help="CSV of rows to evaluate (cases.csv format).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (an array with --batch).")] = False,
    catalog_files: CatalogFiles = None,
    disagg: Annotated[bool, typer.Option(
        "--disagg", help="Separate prefill and decode pools (give --prefill and --decode).")] = False,
    prefill: Annotated[str | None, typer.Option(
        "--prefill", help='Prefill pool, e.g. "accelerator=b200,tp=2" (keys: accelerator, tp, dp, pp, ep, quant, '
                          'max_batch).')] = None,
    decode: Annotated[str | None, typer.Option(
        "--decode", help='Decode pool, e.g. "accelerator=h200-sxm,tp=4".')] = None,
    link: Annotated[str | None, typer.Option(
        "--link", help="KV link between pools: nvlink|network (default: nvlink when both fit one scale-up "
                       "domain of one accelerator).")] = None,
) -> None:
    """Predict memory, TTFT, TPOT, e2e latency and throughput of a deployment under load."""
    pct = parse_percentile(percentile)
    catalog = load_catalog(catalog_files or [])
    if disagg or prefill or decode:
        from solver.cli.disagg_cmd import run_estimate_disagg

        run_estimate_disagg(catalog, model=model, prefill=prefill, decode=decode, link=link, engine=engine,
                            quant=quant, kv_quant=kv_quant, isl=isl, osl=osl, slo_ttft_ms=slo_ttft_ms,
                            slo_tpot_ms=slo_tpot_ms, percentile=percentile, rate=rate, as_json=as_json,
                            others={"--accelerator": accelerator, "--gpus": gpus, "--tp": tp, "--pp": pp,
                                    "--ep": ep, "--max-batch": max_batch, "--batch": batch,
                                    "--concurrency": concurrency, "--static-batch": static_batch,
                                    "--max-throughput": max_throughput or None})
        return
    if batch is not None:
        rows = read_batch(batch)
        results = estimate_batch(rows, catalog)
        if as_json:
            from solver.perf.accuracy import load_accuracy, with_bands

            bands = load_accuracy()
            results = [with_bands(r, catalog, bands) for r in results]
            typer.echo(json.dumps(results, indent=1))
        else:
            _print_table(results)
        return
    mix = _length_mix(isl_dist, osl_dist, isl, osl)
    if mix is not None:
        isl = sum(t * w for t, w in mix.inputs)
        osl = sum(t * w for t, w in mix.outputs)
    missing = [f for f, v in (("--model", model), ("--accelerator", accelerator), ("--isl", isl), ("--osl", osl))
               if v is None]
    if missing:
        raise EstimateError(f"estimate: missing {', '.join(missing)} (or use --batch FILE)")
    _check_values(gpus, tp, pp, ep, quant, kv_quant, max_batch, isl, osl, dp)
    mode, value = _mode(max_throughput, concurrency, rate, static_batch, slo_ttft_ms, slo_tpot_ms)
    from solver.problem import percentile_value

    percentile_number = percentile_value(pct if pct is not None else 99.0)
    row = {"model": model, "accelerator": accelerator, "gpus": gpus, "tp": tp, "dp": dp, "pp": pp, "ep": ep,
           "quant": quant, "kv_quant": kv_quant, "engine": engine, "isl": isl, "osl": osl, "mode": mode,
           "mode_value": value, "slo_ttft_ms": slo_ttft_ms, "slo_tpot_ms": slo_tpot_ms,
           "percentile": percentile_number, "max_batch": max_batch, "closed_loop": closed_loop}
    from solver.perf.estimate import estimate_many

    result = estimate_many([row], catalog, breakdown=True)[0]
    if result.get("error"):
        raise EstimateError(f"estimate: {result['error']}")
    result = _label_percentile(result, percentile_number)
    if mix is not None and result.get("fits") and result.get("replicas"):
        result["length_spread"] = _spread(result, mix, catalog)
    if as_json:
        from solver.perf.accuracy import load_accuracy, with_bands

        typer.echo(json.dumps(with_bands(result, catalog, load_accuracy()), indent=1))
    else:
        _print_table([result])
        if result.get("length_spread"):
            _print_spread(result["length_spread"], result["requests_per_s"] / result["replicas"])


def read_batch(path: Path) -> list[dict]:
    """The rows of a `--batch` CSV; InputError naming the file and the missing columns otherwise."""
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BATCH_BYTES:
            raise InputError([Issue(file, "", f"{size:,} bytes; a --batch file may have at most "
                                              f"{MAX_BATCH_BYTES:,} (split it)")])
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError([Issue(file, "", f"cannot read file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise InputError([Issue(file, "", "not a UTF-8 text file (is it binary?)")]) from None
    try:
        reader = csv.DictReader(text.splitlines())
        header = [h.strip() for h in (reader.fieldnames or []) if h is not None]
        rows = [{(k or "").strip(): v for k, v in r.items()} for r in reader]
    except csv.Error as exc:
        raise InputError([Issue(file, "", f"malformed CSV: {exc}")]) from None
    missing = [c for c in BATCH_REQUIRED if c not in header]
    if missing:
        raise InputError([Issue(file, "", f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                                          f"expected a CSV with a header row of: {', '.join(BATCH_COLUMNS)} "
                                          f"(required: {', '.join(BATCH_REQUIRED)})")])
    if not rows:
        raise InputError([Issue(file, "", "no rows after the header")])
    return rows


def estimate_batch(rows: list[dict], catalog) -> list[dict]:
    """`estimate_many`, with each row's percentile checked first (50 to 99.9 or mean, as everywhere);
    a row with a bad value gets fits=false and an `error`, and the batch carries on."""
    from solver.problem import percentile_value

    ready, errors = [], {}
    for i, row in enumerate(rows):
        row = {k: (v if not isinstance(v, list) else ",".join(str(x) for x in v)) for k, v in row.items()}
        text = str(row.get("percentile") or "").strip()
        try:
            pct = parse_percentile(text, "percentile") if text else None
        except InputError as exc:
            errors[i] = exc.issues[0].message
            continue
        ready.append({**row, "percentile": percentile_value(pct) if pct is not None else None})
    from solver.perf.estimate import estimate_many

    done = iter(estimate_many(ready, catalog)) if ready else iter(())
    out = []
    for i, row in enumerate(rows):
        if i in errors:
            out.append({"fits": False, "reason": f"percentile: {errors[i]}", "error": f"percentile: {errors[i]}",
                        **{k: row.get(k) for k in ("case_id", "model", "accelerator") if k in row}})
        else:
            result = next(done)
            out.append(_label_percentile(result, result.get("percentile", 99.0))
                       if result.get("percentile") is not None else result)
    return out
