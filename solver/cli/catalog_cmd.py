"""`trilemma catalog ...`: list, show, validate and extend the catalogs.

- `catalog accelerators|models|offers|engines`: a table of one section (`--json`, `--csv FILE`).
- `catalog show ID`: every field of one entry (models also get computed parameter counts and
  KV-cache bytes per token).
- `catalog validate FILE...`: a user catalog merged over the built-ins; every problem at once.
- `catalog import-hf config.json --id NAME`: a models.yaml entry from a Hugging Face config.json.

Every command takes `--catalog FILE` (repeatable) to merge user catalogs over the built-ins, with the
loader's rule: a later entry with the same id replaces the earlier one as a whole.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.table import Table
from rich.text import Text

from solver.catalog.loader import SECTIONS, Catalog, load_catalog, parse_catalog_file
from solver.cli import app
from solver.cli.common import CatalogFiles, JsonFlag, stdout_console
from solver.errors import CatalogError, Issue

if TYPE_CHECKING:
    from pydantic import BaseModel

    from solver.catalog.params import ParameterCounts
    from solver.catalog.schema import Engine, Model, Offer


def parameter_counts(model: Model) -> ParameterCounts:
    from solver.catalog.params import parameter_counts as counts

    return counts(model)

catalog_app = typer.Typer(
    help="List, show, validate and extend the catalogs (accelerators, models, offers, engines).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(catalog_app, name="catalog")

CsvFile = Annotated[
    Path | None, typer.Option("--csv", help="Also write the rows (every field) to this CSV file.")
]


def _cell(value: Any) -> Text:
    """Table cells as plain Text: catalog strings such as `[bf16, fp8]` are not rich markup."""
    return Text(_fmt(value))


# --------------------------------------------------------------------------------------------
# Computed model quantities


def kv_cache_bytes_per_token(model: Model, kv_quant: str = "bf16", context_tokens: float = 1.0) -> float:
    """KV-cache bytes of one request holding `context_tokens` tokens, per token, on one GPU without
    parallelism: the performance model's own formula (`solver.perf.memory.kv_bytes_per_request`), so
    GQA, MLA and sliding-window layers (which hold at most their window) count as they do in a solve."""
    import numpy as np

    from solver.perf.arch import KV_BYTES, geometry
    from solver.perf.memory import kv_bytes_per_request

    g = geometry(model)
    total = kv_bytes_per_request(g, KV_BYTES[kv_quant], np.array([1.0]), np.array([1.0]),
                                 np.array([float(context_tokens)]))
    return float(total[0]) / context_tokens


def model_computed(model: Model) -> dict[str, Any]:
    counts = parameter_counts(model)
    return {
        "total_params_b": round(counts.total / 1e9, 3),
        "active_params_b": round(counts.active / 1e9, 3),
        "kv_cache_bytes_per_token_bf16": round(kv_cache_bytes_per_token(model)),
        # Averaged over a full context window: sliding-window layers hold only their window.
        "kv_cache_gb_per_request_at_max_context_bf16": round(
            kv_cache_bytes_per_token(model, "bf16", model.max_context_tokens) * model.max_context_tokens / 1e9, 3),
    }


# --------------------------------------------------------------------------------------------
# Listing


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _price(offer: Offer) -> str:
    if offer.kind == "owned":
        return f"buy ${offer.purchase_usd:,.0f} / {offer.amortization_years:g}y"
    return _fmt(offer.usd_per_hour_on_demand)


def _engine_field(engine: Engine, name: str) -> list[str]:
    seen: list[str] = []
    for support in engine.support:
        for v in getattr(support, name):
            if v not in seen:
                seen.append(v)
    return seen


Column = tuple[str, Callable[[Any], Any]]

COLUMNS: dict[str, list[Column]] = {
    "accelerators": [
        ("id", lambda a: a.id),
        ("name", lambda a: a.name),
        ("memory_gb", lambda a: a.memory_gb),
        ("hbm_tb_s", lambda a: a.hbm_bandwidth_tb_s),
        ("bf16_tflops", lambda a: a.peak_tflops.bf16),
        ("fp8_tflops", lambda a: a.peak_tflops.fp8),
        ("fp4_tflops", lambda a: a.peak_tflops.fp4),
        ("gpus_per_node", lambda a: a.gpus_per_node),
        ("scale_up_gpus", lambda a: a.scale_up_domain_gpus),
        ("as_of", lambda a: a.as_of.isoformat()),
    ],
    "models": [
        ("id", lambda m: m.id),
        ("arch", lambda m: m.architecture),
        ("layers", lambda m: m.num_layers),
        ("hidden", lambda m: m.hidden_size),
        ("heads/kv", lambda m: f"{m.num_attention_heads}/{m.num_kv_heads}"),
        ("experts", lambda m: f"{m.experts_per_token}/{m.num_experts}" if m.is_moe else None),
        ("total_b", lambda m: f"{parameter_counts(m).total / 1e9:.1f}"),
        ("active_b", lambda m: f"{parameter_counts(m).active / 1e9:.1f}"),
        ("dtype", lambda m: m.native_dtype),
        ("context", lambda m: m.max_context_tokens),
    ],
    "offers": [
        ("id", lambda o: o.id),
        ("provider", lambda o: o.provider),
        ("instance", lambda o: o.instance_type),
        ("accelerator", lambda o: o.accelerator),
        ("gpus", lambda o: o.gpus_per_instance),
        ("region", lambda o: o.region),
        ("on_demand_$/h", _price),
        ("spot_$/h", lambda o: o.usd_per_hour_spot),
        ("1y_$/h", lambda o: o.usd_per_hour_reserved_1y),
        ("3y_$/h", lambda o: o.usd_per_hour_reserved_3y),
        ("as_of", lambda o: o.as_of.isoformat()),
    ],
    "engines": [
        ("id", lambda e: e.id),
        ("name", lambda e: e.name),
        ("families", lambda e: _engine_field(e, "families")),
        ("weight_quants", lambda e: _engine_field(e, "weight_quants")),
        ("kv_quants", lambda e: _engine_field(e, "kv_quants")),
        ("aliases", lambda e: e.aliases or None),
        ("as_of", lambda e: e.as_of.isoformat()),
    ],
}


def entry_record(section: str, entry: BaseModel) -> dict[str, Any]:
    """Every field of an entry as JSON-ready values (dates as ISO strings); models add `computed`."""
    record = entry.model_dump(mode="json")
    if section == "models":
        record["computed"] = model_computed(entry)  # type: ignore[arg-type]
    return record


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings become dotted columns; lists become JSON text (CSV cells are flat)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and all(not isinstance(v, (dict, list)) for v in value.values()):
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, (dict, list)):
            out[name] = json.dumps(value, separators=(",", ":")) if value else ""
        else:
            out[name] = value
    return out


def write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    rows = [_flatten(r) for r in records]
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=header, restval="")
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise CatalogError([Issue(str(path), "", f"cannot write CSV: {exc.strerror or exc}")]) from None


def _load(extra: list[Path] | None) -> Catalog:
    return load_catalog(list(extra or []))


ExtraColumns = Callable[[Catalog], list[tuple[str, str, Callable[[Any], Any]]]]
"""(table header, JSON/CSV key, getter) columns computed from the whole catalog."""


def _list_section(section: str, as_json: bool, csv_file: Path | None, extra: list[Path] | None,
                  keep: Callable[[Catalog], set[str]] | None = None, columns: ExtraColumns | None = None,
                  empty_note: str | None = None) -> None:
    catalog = _load(extra)
    entries = sorted(catalog.section(section).values(), key=lambda e: e.id)
    if keep is not None:
        kept = keep(catalog)
        entries = [e for e in entries if e.id in kept]
    more = columns(catalog) if columns else []
    records = [entry_record(section, e) | {key: get(e) for _, key, get in more} for e in entries]
    if csv_file is not None:
        write_csv(csv_file, records)
        typer.echo(f"wrote {len(records)} {section} to {csv_file}", err=True)
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table(title=f"{section} ({len(entries)})", show_lines=False)
    cols = COLUMNS[section] + [(header, get) for header, _, get in more]
    for header, _ in cols:
        table.add_column(header, no_wrap=header == "id", overflow="fold")
    for entry in entries:
        table.add_row(*(_cell(get(entry)) for _, get in cols))
    stdout_console().print(table)
    if not entries:
        typer.echo(empty_note or f"no {section} in the catalogs ({', '.join(catalog.files) or 'no files found'})",
                   err=True)


@catalog_app.command("accelerators")
def accelerators(as_json: JsonFlag = False, csv_file: CsvFile = None, catalog: CatalogFiles = None) -> None:
    """Accelerators: memory, bandwidth, dense peak TFLOPS, node size, offers and cheapest on-demand USD/GPU-h."""
    from solver.cli.catalog_prices_cmd import accelerator_price_columns

    _list_section("accelerators", as_json, csv_file, catalog, columns=accelerator_price_columns)


@catalog_app.command("models")
def models(as_json: JsonFlag = False, csv_file: CsvFile = None, catalog: CatalogFiles = None) -> None:
    """Models: architecture, computed total/active parameters (billions), native dtype."""
    _list_section("models", as_json, csv_file, catalog)


@catalog_app.command("offers")
def offers(
    as_json: JsonFlag = False,
    csv_file: CsvFile = None,
    catalog: CatalogFiles = None,
    stale: Annotated[
        int | None, typer.Option("--stale", metavar="DAYS", help="Only offers whose prices are older than DAYS days.")
    ] = None,
) -> None:
    """Offers: cloud instances and owned servers with their prices and the date they were read."""
    from solver.cli.catalog_prices_cmd import stale_filter

    keep = stale_filter(stale) if stale is not None else None
    note = f"no offer is older than {stale} days" if stale is not None else None
    _list_section("offers", as_json, csv_file, catalog, keep=keep, empty_note=note)


@catalog_app.command("engines")
def engines(as_json: JsonFlag = False, csv_file: CsvFile = None, catalog: CatalogFiles = None) -> None:
    """Engines: supported accelerator families and quantizations."""
    _list_section("engines", as_json, csv_file, catalog)


# --------------------------------------------------------------------------------------------
# show


@catalog_app.command("show")
def show(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="Id of an accelerator, model, offer or engine.")],
    as_json: JsonFlag = False,
    catalog: CatalogFiles = None,
) -> None:
    """Every field of one catalog entry (models also get parameter counts and KV-cache size)."""
    cat = _load(catalog)
    try:
        section, entry = cat.find(entry_id)
    except CatalogError:
        if entry_id.lower() not in {a for e in cat.engines.values() for a in e.aliases}:
            raise
        section, entry = "engines", cat.lookup("engines", entry_id.lower())
    record = entry_record(section, entry)
    if as_json:
        typer.echo(json.dumps({"section": section, **record}, indent=2))
        return
    table = Table(title=f"{section}: {entry.id}", show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in record.items():
        if key == "computed":
            for k, v in value.items():
                table.add_row(f"computed.{k}", _cell(v))
        elif isinstance(value, dict) and value and all(not isinstance(v, (dict, list)) for v in value.values()):
            for k, v in value.items():
                table.add_row(f"{key}.{k}", _cell(v))
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            text = yaml.safe_dump(value, sort_keys=False, default_flow_style=None, width=100).rstrip()
            table.add_row(key, Text(text))
        else:
            table.add_row(key, _cell(value))
    stdout_console().print(table)


# --------------------------------------------------------------------------------------------
# validate


@catalog_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="User catalog YAML file(s).")],
    builtin: Annotated[
        bool, typer.Option("--builtin/--no-builtin", help="Merge over the built-in catalogs (default) or check alone.")
    ] = True,
) -> None:
    """Check user catalog files merged over the built-ins; report every problem, exit 1 if any."""
    catalog = load_catalog(files, builtin=builtin)  # raises CatalogError listing every problem
    own: dict[str, int] = dict.fromkeys(SECTIONS, 0)
    for path in files:
        parsed, _ = parse_catalog_file(path)
        if parsed is not None:
            for name in SECTIONS:
                own[name] += len(getattr(parsed, name))
    counts = ", ".join(f"{own[name]} {name}" for name in SECTIONS)
    totals = ", ".join(f"{len(catalog.section(name))} {name}" for name in SECTIONS)
    typer.echo(f"ok: {counts} in {', '.join(str(f) for f in files)}")
    typer.echo(f"merged catalog: {totals}")
    mine = {str(f) for f in files}
    for line in catalog.overrides:
        if line.rsplit(": ", 1)[-1] in mine:
            typer.echo(f"overrides built-in {line.rsplit(': ', 1)[0]}", err=True)


# --------------------------------------------------------------------------------------------
# import-hf


@catalog_app.command("import-hf")
def import_hf(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG_JSON", help="A local Hugging Face config.json (or its directory).")
    ],
    entry_id: Annotated[str, typer.Option("--id", help="Catalog id for the model (lowercase-kebab).")],
    source: Annotated[
        str | None, typer.Option(help="Where the config came from (default: the HF URL, else the file path).")
    ] = None,
    hf_id: Annotated[
        str | None,
        typer.Option("--hf-id", help="Hugging Face repository (default: _name_or_path, or owner--name.json)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name (default: the repository name).")] = None,
) -> None:
    """Print a catalog entry (YAML, `models:` section) for a model from its config.json; no network.

    Redirect to a file and pass it with `--catalog`, or paste the entry into catalogs/models.yaml.
    Published parameter counts are not in config.json: add `published_total_params_b` by hand.
    """
    if config.is_dir():  # a downloaded model directory
        config = config / "config.json"
    from solver.catalog.hf_import import model_entry_from_hf_config, read_json_object

    data = read_json_object(config)
    entry = model_entry_from_hf_config(data, entry_id=entry_id, file=str(config), source=source,
                                       hf_id=hf_id, name=name)
    typer.echo(yaml.safe_dump({"models": [entry]}, sort_keys=False, width=100), nl=False)


__all__ = ["catalog_app", "kv_cache_bytes_per_token"]
