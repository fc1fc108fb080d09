"""Provenance a user can follow: no catalog text or code default names a path of the machine it was
written on (a user has only the package and the public sources it cites)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import solver

ROOT = Path(__file__).resolve().parents[1]
LOCAL_PATH = re.compile(r"(?:^|[\s(\"'`=,;\[])((?:~|\.\.)?(?:/[\w.+-]+){2,}/?)")
"""An absolute (or home- or parent-relative) filesystem path: two or more `/name` segments not preceded by
a host, so URLs (https://host/a/b) and repository-relative paths (catalogs/v8/aws/vms.csv) do not match."""


SYSTEM_PATHS = ("/dev/", "~/.cache/", "/bin/", "/v1/")
"""Device files and shells the emitted manifests use (/dev/shm, /bin/sh), the OpenAI API route (/v1/...) and
the user cache folder: paths every
machine has, not sources."""


def local_paths(text: str) -> list[str]:
    return [m.group(1) for m in LOCAL_PATH.finditer(text) if not m.group(1).startswith(SYSTEM_PATHS)]


@pytest.mark.parametrize("text, found", [
    ("(transcribed in /work/shared/reference/prices.csv)", ["/work/shared/reference/prices.csv"]),
    ("exported to ../shared/calibration/kernels/ (see its README)", ["../shared/calibration/kernels/"]),
    ("see ~/data/prices.csv", ["~/data/prices.csv"]),
    ("https://github.com/skypilot-org/skypilot-catalog catalogs/v8/aws/vms.csv @e385a0d3", []),
    ("NVLink 900 GB/s bidirectional -> 450 GB/s per direction; 1/2 of the TP group", []),
])
def test_the_detector_finds_machine_paths_and_spares_urls(text, found):
    assert local_paths(text) == found


@pytest.mark.parametrize("path", sorted((ROOT / "catalogs").glob("*.yaml")), ids=lambda p: p.name)
def test_catalog_sources_and_notes_name_no_local_path(path):
    bad = [f"{path.name}:{i}: {p}" for i, line in enumerate(path.read_text().splitlines(), 1)
           for p in local_paths(line)]
    assert not bad, "cite the public URL or repository@commit and path instead:\n" + "\n".join(bad)


def _solver_files() -> list[Path]:
    return sorted(Path(solver.__file__).parent.rglob("*.py"))


def test_code_strings_name_no_local_path():
    bad = []
    for f in _solver_files():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                bad += [f"{f.relative_to(ROOT)}:{node.lineno}: {p}" for p in local_paths(node.value)]
    assert not bad, "\n".join(bad)


def test_module_level_path_defaults_stay_inside_the_checkout():
    """Every Path a module defines at import time (CLI defaults among them) lies in the source tree."""
    outside = []
    for info in pkgutil.walk_packages(solver.__path__, "solver."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, Path) and not value.resolve().is_relative_to(ROOT):
                outside.append(f"{info.name}.{name} = {value}")
    assert not outside, "\n".join(outside)
