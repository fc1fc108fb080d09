"""Prices in front of the user: `catalog prices` (negotiated prices CSV -> catalog file), the
`catalog offers --stale DAYS` filter, the price columns of `catalog accelerators`, and the
"prices as of" line of solve and sweep reports."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from solver.catalog.loader import Catalog, load_catalog
from solver.cli.catalog_cmd import CatalogFiles, catalog_app
from solver.errors import CatalogError, InputError, Issue


def stale_filter(days: int) -> Callable[[Catalog], set[str]]:
    """Ids of the offers older than `days` days (for `catalog offers --stale`)."""
    if days < 0:
        raise InputError([Issue("command line", "--stale", f"got {days}; allowed: a number of days >= 0")])
    from solver.catalog.prices import stale_offers

    return lambda catalog: {o.id for o in stale_offers(catalog, days)}


def accelerator_price_columns(catalog: Catalog) -> list[tuple[str, str, Callable[[Any], Any]]]:
    """`offers`, cheapest on-demand USD/GPU-h and `engines` (or why none runs it) columns of
    `catalog accelerators`."""
    from solver.catalog.coverage import engine_coverage
    from solver.catalog.prices import accelerator_prices

    prices = accelerator_prices(catalog)
    engines = engine_coverage(catalog)

    def cheapest(acc: Any) -> float | None:
        value = prices[acc.id].cheapest_on_demand_usd_per_gpu_hour
        return None if value is None else round(value, 4)

    return [
        ("offers", "offers", lambda a: prices[a.id].offers),
        ("od_$/gpu-h", "cheapest_on_demand_usd_per_gpu_hour", cheapest),
        ("cheapest_offer", "cheapest_on_demand_offer", lambda a: prices[a.id].cheapest_offer),
        ("engines", "engines", lambda a: engines[a.id]),
    ]


def prices_as_of(catalog: Catalog, offer_ids: Iterable[str]) -> dict[str, str | None]:
    """JSON fields of a report: the oldest price date among the offers used, and its offer."""
    from solver.catalog.prices import oldest_price_date

    oldest = oldest_price_date(catalog, offer_ids)
    if oldest is None:
        return {"prices_as_of_oldest": None, "prices_as_of_oldest_offer": None}
    return {"prices_as_of_oldest": oldest[0].isoformat(), "prices_as_of_oldest_offer": oldest[1]}


def prices_as_of_line(catalog: Catalog, offer_ids: Iterable[str], today: dt.date | None = None) -> str:
    """'Prices as of: oldest 2025-03-06 (offer x, 637 days old)' for the table reports."""
    from solver.catalog.prices import oldest_price_date

    oldest = oldest_price_date(catalog, offer_ids)
    if oldest is None:
        return "Prices as of: no offer used"
    days = ((today or dt.date.today()) - oldest[0]).days
    return (f"Prices as of: oldest {oldest[0].isoformat()} (offer {oldest[1]}, {days} days old); "
            "`trilemma catalog offers --stale DAYS` lists old prices")


def unpriced_line(catalog: Catalog, allowed: Iterable[str] | None) -> str | None:
    """A line naming the accelerators a problem allows that no offer sells (None when there are none)."""
    from solver.catalog.prices import accelerators_without_offers

    missing = accelerators_without_offers(catalog, allowed or [])
    if not missing:
        return None
    return (f"No offer in the catalogs for: {', '.join(missing)} (no published price was found; add one with "
            "`trilemma catalog prices` and --catalog)")


@catalog_app.command("prices")
def prices(
    csv_file: Annotated[Path, typer.Argument(metavar="IN.csv", help="CSV of negotiated prices.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Catalog YAML file to write (offers section).")],
    catalog: CatalogFiles = None,
) -> None:
    """Turn a CSV of negotiated prices into a catalog file for `--catalog` (validated like any catalog).

    Header columns: provider, instance, tier (on_demand, spot, reserved_1y, reserved_3y), price (USD per
    instance-hour); optional: region, accelerator, gpus_per_instance (both needed for an instance the
    catalog lacks), as_of, source, id, notes. A row for a catalog instance replaces that offer's price
    for the tier; its other prices stay, with their public sources.
    """
    base = load_catalog(list(catalog or []))
    from solver.catalog.prices import offers_from_price_csv

    entries = offers_from_price_csv(csv_file, base)
    header = (f"# Negotiated prices imported by `trilemma catalog prices` from {csv_file.name} on "
              f"{dt.date.today().isoformat()}.\n# Use with: trilemma solve PROBLEM --catalog {output.name}\n")
    text = header + yaml.safe_dump({"offers": entries}, sort_keys=False, width=110, allow_unicode=True)
    directory = output.parent if str(output.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(suffix=".yaml", dir=directory)
    except OSError as exc:
        raise CatalogError([Issue(str(output), "", f"cannot write: {exc.strerror or exc}")]) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # The same validation as `--catalog`: schema, cross-references and sanity checks, merged.
        try:
            load_catalog([*(catalog or []), Path(tmp)])
        except CatalogError as exc:
            raise CatalogError([Issue(str(csv_file), i.location, i.message) if i.file == tmp else i
                                for i in exc.issues]) from None
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    replaced = sum(1 for e in entries if e["id"] in base.offers)
    typer.echo(f"wrote {len(entries)} offers to {output} ({replaced} replace catalog offers, "
               f"{len(entries) - replaced} new)")


__all__ = ["accelerator_price_columns", "prices_as_of", "prices_as_of_line", "stale_filter", "unpriced_line"]
