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
from typing import TYPE_CHECKING, Any

from solver.errors import CatalogError, Issue

if TYPE_CHECKING:  # the schema and the YAML reader load when a catalog is parsed, not on import
    from pydantic import BaseModel

    from solver.catalog.schema import Accelerator, AcceleratorFamily, CatalogFile, Engine, Model, Offer

SECTIONS = ("accelerators", "models", "offers", "engines", "families")


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
    families: dict[str, AcceleratorFamily] = field(default_factory=dict)
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
    from pydantic import ValidationError

    from solver.catalog.schema import CatalogFile
    from solver.yamlio import format_location, read_yaml_mapping, validation_issues

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
    """Built-in catalogs merged with user files; raises CatalogError listing every problem.

    A catalog built from the same file contents before is read from the disk cache (solver/cache.py)."""
    paths: list[Path] = []
    if builtin:
        base = builtin_catalog_dir()
        if not base.is_dir():
            raise CatalogError([Issue(str(base), "", "built-in catalogs not found; install from a source checkout "
                                      "(pip install -e .) or point TRILEMMA_CATALOG_DIR at a catalogs folder")])
        paths += [base / f"{name}.yaml" for name in SECTIONS if (base / f"{name}.yaml").exists()]
    paths += [Path(p) for p in extra_files]
    from solver.cache import cached

    return cached("catalog", paths, lambda: _build_catalog(paths), CATALOG_CODE)


CATALOG_CODE = ("solver.catalog.loader", "solver.catalog.schema", "solver.catalog.sanity", "solver.yamlio")
"""The modules that decide what a valid catalog is: editing one invalidates cached catalogs."""


def _build_catalog(paths: list[Path]) -> Catalog:
    """Parse, merge and check the files; raises CatalogError listing every problem."""
    from solver.catalog.sanity import sanity_issues

    catalog = Catalog()
    issues: list[Issue] = []
    origin: dict[tuple[str, str], tuple[str, int]] = {}
    unparsed = []
    for path in paths:
        parsed, file_issues = parse_catalog_file(path)
        issues += file_issues
        if parsed is None:
            unparsed.append(path)
            continue
        catalog.files.append(str(path))
        for name in SECTIONS:
            for i, entry in enumerate(getattr(parsed, name)):
                key = (name, entry.id)
                if key in origin and origin[key][0] != str(path):
                    catalog.overrides.append(f"{name} {entry.id}: {path}")
                origin[key] = (str(path), i)
                catalog.section(name)[entry.id] = entry
    issues += [i for path in unparsed for i in _raw_family_issues(path, catalog)]
    issues += _cross_reference_issues(catalog, origin)
    issues += sanity_issues(catalog, origin)
    if issues:
        raise CatalogError(issues)
    return catalog


def _unknown_family(file: str, location: str, family: object, catalog: Catalog) -> list[Issue]:
    if not isinstance(family, str) or family in catalog.families:
        return []
    allowed = ", ".join(repr(f) for f in catalog.families)
    return [Issue(file, location, f"got {family!r}; allowed: {allowed} (the ids of catalogs/families.yaml)")]


def _raw_family_issues(path: Path, catalog: Catalog) -> list[Issue]:
    """Unknown families in a file that did not parse, so that its every problem is reported at once."""
    from solver.yamlio import read_yaml_mapping

    data, issues = read_yaml_mapping(path)
    if issues or not isinstance(data, dict):
        return []
    entries = data.get("accelerators")
    if not isinstance(entries, list):
        return []
    out = []
    for i, acc in enumerate(entries):
        if isinstance(acc, dict):
            out += _unknown_family(str(path), f"accelerators[{i}].family", acc.get("family"), catalog)
    return out


def _family_issues(catalog: Catalog, origin: dict[tuple[str, str], tuple[str, int]]) -> list[Issue]:
    """Every family an accelerator, engine support list, profile or prior names is in `families`."""
    issues = []

    def check(section: str, entry_id: str, where: str, family: str) -> None:
        file, i = origin[(section, entry_id)]
        issues.extend(_unknown_family(file, f"{section}[{i}].{where}", family, catalog))

    for acc in catalog.accelerators.values():
        check("accelerators", acc.id, "family", acc.family)
    for eng in catalog.engines.values():
        for j, s in enumerate(eng.support):
            for f in s.families:
                check("engines", eng.id, f"support[{j}].families", f)
        for j, p in enumerate(eng.profiles):
            for f in p.families:
                check("engines", eng.id, f"profiles[{j}].families", f)
    for fam in catalog.families.values():
        for engine_id, prior in fam.profile_priors.items():
            check("families", fam.id, f"profile_priors.{engine_id}.family", prior.family)
    return issues


def _cross_reference_issues(catalog: Catalog, origin: dict[tuple[str, str], tuple[str, int]]) -> list[Issue]:
    issues = _family_issues(catalog, origin)
    for offer in catalog.offers.values():
        if offer.accelerator not in catalog.accelerators:
            file, i = origin[("offers", offer.id)]
            issues.append(
                Issue(file, f"offers[{i}].accelerator",
                      f"unknown accelerator {offer.accelerator!r}"
                      f"{suggest(offer.accelerator, sorted(catalog.accelerators))}")
            )
    return issues
