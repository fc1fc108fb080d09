"""Load the built-in catalogs and user catalogs, merge them, and check cross-references.

Merge rule: files are read in order (built-in first, then each `--catalog` file in the order given).
An entry whose `id` already exists in the same section replaces the earlier entry as a whole (no
field-by-field merge); the replacement is recorded in `Catalog.overrides`.
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from solver.catalog.sanity import sanity_issues
from solver.catalog.schema import Accelerator, CatalogFile, Engine, Model, Offer
from solver.errors import CatalogError, Issue
from solver.yamlio import format_location, read_yaml_mapping, validation_issues

SECTIONS = ("accelerators", "models", "offers", "engines")


def builtin_catalog_dir() -> Path:
    """$TRILEMMA_CATALOG_DIR, else `catalogs/` of the source checkout (editable install), else
    `<prefix>/share/trilemma/catalogs` where a regular install puts them."""
    env = os.environ.get("TRILEMMA_CATALOG_DIR")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2] / "catalogs"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "trilemma" / "catalogs"


def builtin_cases_path() -> Path:
    """The calibration cases (`trilemma validate`'s default): `validation/cases.csv` of the source
    checkout, else `<prefix>/share/trilemma/validation/cases.csv` where a regular install puts them."""
    checkout = Path(__file__).resolve().parents[2] / "validation" / "cases.csv"
    if checkout.is_file():
        return checkout
    return Path(sys.prefix) / "share" / "trilemma" / "validation" / "cases.csv"


def suggest(word: str, known: list[str], n: int = 3) -> str:
    """' (did you mean: a, b?)' for the closest known ids; ' (known: ...)' when none is close and
    there are few; '' otherwise."""
    close = difflib.get_close_matches(word, known, n=n, cutoff=0.5)
    if not close:
        close = [k for k in known if word and (word in k or k in word)][:n]
    if close:
        return f" (did you mean: {', '.join(close)}?)"
    if 0 < len(known) <= 12:
        return f" (known: {', '.join(known)})"
    return ""


@dataclass
class Catalog:
    accelerators: dict[str, Accelerator] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    offers: dict[str, Offer] = field(default_factory=dict)
    engines: dict[str, Engine] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    """'section id: file' for every entry a later file replaced."""

    def section(self, name: str) -> dict[str, BaseModel]:
        return getattr(self, name)

    def lookup(self, section: str, entry_id: str) -> Any:
        """Entry by id; unknown ids raise CatalogError with the nearest known ids."""
        entries = self.section(section)
        if entry_id in entries:
            return entries[entry_id]
        if section == "engines":
            for engine in self.engines.values():
                if entry_id in engine.aliases:
                    return engine
        raise CatalogError(
            [Issue("catalog", section, f"unknown id {entry_id!r}{suggest(entry_id, sorted(entries))}")]
        )

    def find(self, entry_id: str) -> tuple[str, BaseModel]:
        """(section, entry) for an id in any section."""
        for name in SECTIONS:
            if entry_id in self.section(name):
                return name, self.section(name)[entry_id]
        every = [i for name in SECTIONS for i in self.section(name)]
        raise CatalogError([Issue("catalog", "", f"no entry {entry_id!r}{suggest(entry_id, every)}")])


def parse_catalog_file(path: Path) -> tuple[CatalogFile | None, list[Issue]]:
    """Parse one file; returns the typed content or the list of every problem found."""
    data, issues = read_yaml_mapping(path)
    if issues:
        return None, issues
    unknown = [k for k in data if k not in SECTIONS]
    if unknown:
        return None, [
            Issue(str(path), k, f"unknown section; allowed: {', '.join(SECTIONS)}") for k in unknown
        ]
    try:
        parsed = CatalogFile.model_validate(data)
    except ValidationError as exc:
        return None, validation_issues(str(path), exc, CatalogFile)
    issues = []
    for name in SECTIONS:
        seen: dict[str, int] = {}
        for i, entry in enumerate(getattr(parsed, name)):
            if entry.id in seen:
                issues.append(
                    Issue(str(path), format_location((name, i, "id")),
                          f"duplicate id {entry.id!r} (first at {name}[{seen[entry.id]}])")
                )
            seen.setdefault(entry.id, i)
    return parsed, issues


def load_catalog(extra_files: list[Path] | tuple[Path, ...] = (), builtin: bool = True) -> Catalog:
    """Built-in catalogs merged with user files; raises CatalogError listing every problem."""
    paths: list[Path] = []
    if builtin:
        base = builtin_catalog_dir()
        if not base.is_dir():
            raise CatalogError([Issue(str(base), "", "built-in catalogs not found; install from a source checkout "
                                      "(pip install -e .) or point TRILEMMA_CATALOG_DIR at a catalogs folder")])
        paths += [base / f"{name}.yaml" for name in SECTIONS if (base / f"{name}.yaml").exists()]
    paths += [Path(p) for p in extra_files]
    catalog = Catalog()
    issues: list[Issue] = []
    origin: dict[tuple[str, str], tuple[str, int]] = {}
    for path in paths:
        parsed, file_issues = parse_catalog_file(path)
        issues += file_issues
        if parsed is None:
            continue
        catalog.files.append(str(path))
        for name in SECTIONS:
            for i, entry in enumerate(getattr(parsed, name)):
                key = (name, entry.id)
                if key in origin and origin[key][0] != str(path):
                    catalog.overrides.append(f"{name} {entry.id}: {path}")
                origin[key] = (str(path), i)
                catalog.section(name)[entry.id] = entry
    issues += _cross_reference_issues(catalog, origin)
    issues += sanity_issues(catalog, origin)
    if issues:
        raise CatalogError(issues)
    return catalog


def _cross_reference_issues(catalog: Catalog, origin: dict[tuple[str, str], tuple[str, int]]) -> list[Issue]:
    issues = []
    for offer in catalog.offers.values():
        if offer.accelerator not in catalog.accelerators:
            file, i = origin[("offers", offer.id)]
            issues.append(
                Issue(file, f"offers[{i}].accelerator",
                      f"unknown accelerator {offer.accelerator!r}"
                      f"{suggest(offer.accelerator, sorted(catalog.accelerators))}")
            )
    return issues
