"""How old the prices are, what each accelerator costs, and a user's negotiated prices as a catalog.

- `oldest_price_date`: the oldest `as_of` among the offers a result used (reports print it).
- `stale_offers`: offers whose prices are older than a number of days.
- `accelerator_prices`: per accelerator, how many offers sell it and its cheapest on-demand price
  per GPU-hour, min over offers of usd_per_hour_on_demand / gpus_per_instance.
- `offers_from_price_csv`: a CSV of negotiated prices turned into `offers:` entries that
  `--catalog` accepts (format in the function's docstring).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from solver.catalog.loader import Catalog, suggest
from solver.catalog.schema import ID_PATTERN, Offer
from solver.errors import CatalogError, Issue
from solver.yamlio import validation_issues

TIERS = ("on_demand", "spot", "reserved_1y", "reserved_3y")
"""Cloud pricing tiers a CSV row may name; each maps to the offer field usd_per_hour_<tier>."""


def oldest_price_date(catalog: Catalog, offer_ids: Iterable[str]) -> tuple[dt.date, str] | None:
    """(oldest as_of, offer id) among the given offers; None when there are none.

    Ties go to the smallest id so that the answer does not depend on iteration order.
    """
    dated = sorted((catalog.offers[o].as_of, o) for o in set(offer_ids) if o in catalog.offers)
    return dated[0] if dated else None


def stale_offers(catalog: Catalog, days: int, today: dt.date | None = None) -> list[Offer]:
    """Offers whose `as_of` is more than `days` days before `today` (oldest first, then by id)."""
    today = today or dt.date.today()
    cutoff = today - dt.timedelta(days=days)
    old = [o for o in catalog.offers.values() if o.as_of < cutoff]
    return sorted(old, key=lambda o: (o.as_of, o.id))


@dataclass(frozen=True)
class AcceleratorPrices:
    offers: int
    """Offers (cloud and owned) that sell this accelerator."""
    cheapest_on_demand_usd_per_gpu_hour: float | None
    """min over cloud offers of usd_per_hour_on_demand / gpus_per_instance; None without one."""
    cheapest_offer: str | None
    """Id of that offer (ties: smallest id)."""


def accelerator_prices(catalog: Catalog) -> dict[str, AcceleratorPrices]:
    """Offer count and cheapest on-demand USD per GPU-hour of every accelerator in the catalog."""
    out: dict[str, AcceleratorPrices] = {}
    for acc_id in catalog.accelerators:
        offers = [o for o in catalog.offers.values() if o.accelerator == acc_id]
        priced = sorted((o.usd_per_hour_on_demand / o.gpus_per_instance, o.id) for o in offers
                        if o.kind == "cloud" and o.usd_per_hour_on_demand)
        best = priced[0] if priced else (None, None)
        out[acc_id] = AcceleratorPrices(len(offers), best[0], best[1])
    return out


def accelerators_without_offers(catalog: Catalog, accelerator_ids: Iterable[str]) -> list[str]:
    """The given accelerators that no offer in the catalog sells (in the order given)."""
    sold = {o.accelerator for o in catalog.offers.values()}
    return [a for a in accelerator_ids if a not in sold]


# --------------------------------------------------------------------------------------------
# Negotiated prices from CSV

REQUIRED_COLUMNS = ("provider", "instance", "tier", "price")
OPTIONAL_COLUMNS = ("region", "accelerator", "gpus_per_instance", "as_of", "source", "id", "notes")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "offer"


def offers_from_price_csv(path: Path, catalog: Catalog, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Offer entries (plain dicts, validated as `Offer`) from a CSV of negotiated cloud prices.

    Format: a header row, then one row per price. Columns (any order, names case-insensitive):

    - `provider`, `instance` (required): the provider and instance type as the catalog names them
      (`aws`, `p5.48xlarge`), or any new pair when `accelerator` and `gpus_per_instance` are given.
    - `tier` (required): on_demand, spot, reserved_1y or reserved_3y.
    - `price` (required): USD per instance-hour (reserved: the effective hourly price of the term).
    - `region`: picks one offer when the catalog has the instance in several regions.
    - `accelerator`, `gpus_per_instance`: required for an instance the catalog does not have.
    - `as_of` (ISO date, default today), `source` (default "negotiated prices (FILE row N)"),
      `id` (default: the catalog offer's id, so the entry replaces it; new: provider-instance-region),
      `notes`.

    Rows naming the same offer are merged into one entry (one price per tier). An entry for a
    catalog offer starts as a copy of it: prices the CSV does not set keep their public value and
    source (listed in `price_sources`), and `as_of` is then the older of the two dates, so a report
    never shows a price as newer than it is. Raises CatalogError listing every problem.
    """
    file = str(path)
    rows = _read_rows(path)
    today = today or dt.date.today()
    issues: list[Issue] = []
    entries: dict[str, dict[str, Any]] = {}
    first_row: dict[str, int] = {}
    by_instance: dict[tuple[str, str], list[Offer]] = {}
    for offer in catalog.offers.values():
        if offer.kind == "cloud":
            by_instance.setdefault((offer.provider.lower(), offer.instance_type.lower()), []).append(offer)
    for n, row in rows:
        where = f"row {n}"
        row_issues: list[Issue] = []
        provider, instance = row.get("provider", ""), row.get("instance", "")
        for col in REQUIRED_COLUMNS:
            if not row.get(col):
                row_issues.append(Issue(file, f"{where}, column {col}", "empty; every row needs a value"))
        tier = row.get("tier", "").lower().replace("-", "_")
        if row.get("tier") and tier not in TIERS:
            row_issues.append(Issue(file, f"{where}, column tier",
                                    f"{row['tier']!r} is not a tier; allowed: {', '.join(TIERS)}"))
        price = _positive_float(row.get("price", ""), file, f"{where}, column price",
                                "USD per instance-hour", row_issues)
        as_of = today
        if row.get("as_of"):
            try:
                as_of = dt.date.fromisoformat(row["as_of"])
            except ValueError:
                row_issues.append(Issue(file, f"{where}, column as_of",
                                        f"{row['as_of']!r} is not an ISO date (YYYY-MM-DD)"))
            else:
                if as_of > today:
                    row_issues.append(Issue(file, f"{where}, column as_of",
                                            f"{as_of} is in the future; as_of is when the price was agreed"))
        if row_issues:
            issues += row_issues
            continue
        base = _match_offer(by_instance, row, file, where, catalog, issues)
        if base is False:
            continue
        entry_id = row.get("id") or (base.id if base else _slug(f"{provider}-{instance}-{row.get('region', '')}"))
        if not re.match(ID_PATTERN, entry_id):
            issues.append(Issue(file, f"{where}, column id",
                                f"{entry_id!r} is not a valid id (lowercase letters, digits, '.', '-')"))
            continue
        entry = entries.get(entry_id)
        if entry is None:
            entry = _new_entry(base, row, entry_id, file, n, as_of, issues, where)
            if entry is None:
                continue
            entries[entry_id] = entry
            first_row[entry_id] = n
        field = f"usd_per_hour_{tier}"
        if field in entry.get("_set", ()):
            issues.append(Issue(file, f"{where}, column tier",
                                f"a second {tier} price for offer {entry_id!r} (first in row {first_row[entry_id]})"))
            continue
        entry[field] = price
        entry.setdefault("_set", []).append(field)
        entry["price_sources"].pop(field, None)
        entry["_dates"].append(as_of)
    if not rows:
        issues.append(Issue(file, "", "no price rows; the header must be followed by at least one row"))
    out = []
    for entry_id, entry in entries.items():
        dates = entry.pop("_dates")
        base_as_of = entry.pop("_base_as_of", None)
        if base_as_of and any(k.startswith("usd_per_hour_") for k in entry["price_sources"]):
            dates.append(base_as_of)  # public prices kept from the catalog offer
        entry["as_of"] = min(dates)
        entry.pop("_set", None)
        if not entry["price_sources"]:
            entry.pop("price_sources")
        try:
            offer = Offer.model_validate(entry)
        except ValidationError as exc:
            issues += [Issue(file, f"row {first_row[entry_id]} ({entry_id}): {i.location}", i.message)
                       for i in validation_issues(file, exc, Offer)]
            continue
        out.append(offer.model_dump(exclude_none=True, exclude_defaults=True) | {"id": offer.id, "kind": offer.kind})
    if issues:
        raise CatalogError(issues)
    order = ("id", "kind", "provider", "instance_type", "accelerator", "gpus_per_instance", "region")
    return [{k: e[k] for k in order if k in e} | {k: v for k, v in e.items() if k not in order} for e in out]


def _read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    file = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise CatalogError([Issue(file, "", f"cannot read file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise CatalogError([Issue(file, "", "not a UTF-8 text file (is it a spreadsheet? export it as CSV)")]) \
            from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            raise CatalogError([Issue(file, "", "empty file; expected a header row: "
                                      + ",".join(REQUIRED_COLUMNS))])
        names = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        unknown = [h for h in names if h and h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        problems = []
        if missing:
            problems.append(Issue(file, "header", f"missing column(s) {', '.join(missing)}; required: "
                                  f"{', '.join(REQUIRED_COLUMNS)}"))
        for h in unknown:
            problems.append(Issue(file, "header", f"unknown column {h!r}; allowed: "
                                  f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}"))
        if problems:
            raise CatalogError(problems)
        rows = []
        for values in reader:
            n = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(names):
                raise CatalogError([Issue(file, f"row {n}", f"{len(values)} fields, the header has {len(names)}")])
            rows.append((n, {k: v.strip() for k, v in zip(names, values, strict=True) if k}))
    except csv.Error as exc:
        raise CatalogError([Issue(file, f"row {reader.line_num}", f"malformed CSV: {exc}")]) from None
    return rows


def _positive_float(text: str, file: str, where: str, unit: str, issues: list[Issue]) -> float | None:
    if not text:
        return None
    try:
        value = float(text.replace(",", "").lstrip("$"))
    except ValueError:
        issues.append(Issue(file, where, f"{text!r} is not a number ({unit})"))
        return None
    if not value > 0 or value == float("inf"):
        issues.append(Issue(file, where, f"{text} must be a positive finite number ({unit})"))
        return None
    return value


def _match_offer(by_instance, row, file, where, catalog, issues) -> Offer | None | bool:
    """The catalog offer a row refers to; None for a new instance; False after recording an issue."""
    key = (row["provider"].lower(), row["instance"].lower())
    if row.get("id") and row["id"] in catalog.offers:
        offer = catalog.offers[row["id"]]
        if (offer.provider.lower(), offer.instance_type.lower()) != key:
            issues.append(Issue(file, f"{where}, column id",
                                f"offer {row['id']!r} is {offer.provider} {offer.instance_type}, not "
                                f"{row['provider']} {row['instance']}"))
            return False
        return offer
    matches = by_instance.get(key, [])
    if row.get("region"):
        matches = [o for o in matches if (o.region or "").lower() == row["region"].lower()]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        regions = ", ".join(sorted(o.region or "-" for o in matches))
        issues.append(Issue(file, f"{where}, column region",
                            f"{row['provider']} {row['instance']} is in several regions ({regions}); "
                            "name one in a region column"))
        return False
    if not row.get("accelerator") or not row.get("gpus_per_instance"):
        known = sorted({o.instance_type for (p, _), offers in by_instance.items() if p == key[0] for o in offers})
        hint = suggest(row["instance"], known) if known else f" (no catalog offers from {row['provider']!r})"
        issues.append(Issue(file, f"{where}, column instance",
                            f"{row['provider']} {row['instance']!r} is not in the catalog{hint}; for a new "
                            "instance give accelerator and gpus_per_instance columns"))
        return False
    return None


def _new_entry(base: Offer | None, row, entry_id, file, n, as_of, issues, where) -> dict[str, Any] | None:
    source = row.get("source") or f"negotiated prices ({Path(file).name} row {n})"
    if base is not None:
        entry = base.model_dump(mode="json", exclude_none=True)
        entry["id"] = entry_id
        public = dict(entry.get("price_sources", {}))
        for tier in TIERS:
            f = f"usd_per_hour_{tier}"
            if f in entry:
                public.setdefault(f, f"{base.source} (as of {base.as_of})")
        entry.update(source=source, price_sources=public, _dates=[], _base_as_of=dt.date.fromisoformat(entry["as_of"]))
        if row.get("notes"):
            entry["notes"] = row["notes"]
        return entry
    gpus = row["gpus_per_instance"]
    if not gpus.isdigit() or int(gpus) < 1:
        issues.append(Issue(file, f"{where}, column gpus_per_instance", f"{gpus!r} is not a whole number >= 1"))
        return None
    entry = {"id": entry_id, "kind": "cloud", "provider": row["provider"], "instance_type": row["instance"],
             "accelerator": row["accelerator"], "gpus_per_instance": int(gpus), "source": source,
             "price_sources": {}, "_dates": []}
    if row.get("region"):
        entry["region"] = row["region"]
    if row.get("notes"):
        entry["notes"] = row["notes"]
    return entry


__all__ = [
    "TIERS", "AcceleratorPrices", "accelerator_prices", "accelerators_without_offers", "offers_from_price_csv",
    "oldest_price_date", "stale_offers",
]
