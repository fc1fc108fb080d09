"""Fast start: commands import only what they use, and validated catalogs come from a disk cache
keyed by the files' contents."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import solver.catalog.loader as loader
from solver.cache import cache_dir
from solver.catalog.loader import load_catalog
from solver.errors import CatalogError

HEAVY = ("pandas", "matplotlib", "ortools", "numpy")


def _imported_after(args: list[str], env_extra: dict | None = None) -> set[str]:
    """Top-level packages among HEAVY that `trilemma ARGS` imported (in a fresh interpreter)."""
    code = ("import sys, json\nfrom solver.cli import run\nrc = run(sys.argv[1:])\n"
            f"print(json.dumps([rc, sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))]))")
    env = {**os.environ, **(env_extra or {})}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    rc, mods = json.loads(out.stdout.strip().splitlines()[-1])
    assert rc == 0, out.stderr
    return set(mods)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["catalog", "show", "h100-sxm"]])
def test_light_commands_import_no_dataframe_plotting_or_solver_library(args):
    assert _imported_after(args) == set()


def test_version_and_help_build_no_schema_models():
    """Building the catalog and problem schemas (pydantic models) costs ~0.2 s: only commands that read
    a catalog or problem file may import them."""
    code = ("import sys\nfrom solver.cli import run\nrun(sys.argv[1:])\n"
            "print(sorted(m for m in ('solver.catalog.schema', 'solver.problem') if m in sys.modules))")
    for args in (["--version"], ["--help"]):
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
        assert out.stdout.strip().splitlines()[-1] == "[]", (args, out.stdout)


def test_solve_needs_the_solver_but_not_matplotlib():
    mods = _imported_after(["solve", str(Path(__file__).parents[1] / "problems" / "chat-70b.yaml"), "--json"])
    assert {"ortools", "pandas"} <= mods
    assert "matplotlib" not in mods


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "catalogs"
    shutil.copytree(Path(__file__).parent / "fixtures" / "tiny", folder)
    return folder


def test_a_cached_catalog_equals_a_fresh_one_and_skips_validation(tmp_path, monkeypatch):
    monkeypatch.setenv("TRILEMMA_CATALOG_DIR", str(_copy(tmp_path)))
    monkeypatch.setenv("TRILEMMA_NO_CACHE", "1")
    fresh = load_catalog()
    monkeypatch.delenv("TRILEMMA_NO_CACHE")
    builds = []
    real = loader._build_catalog
    monkeypatch.setattr(loader, "_build_catalog", lambda paths: builds.append(paths) or real(paths))
    first = load_catalog()
    second = load_catalog()
    assert len(builds) == 1
    assert second == first == fresh
    assert len(list(cache_dir().glob("catalog-*.pickle"))) >= 1


def test_an_edited_catalog_file_is_validated_again(tmp_path, monkeypatch):
    folder = _copy(tmp_path)
    monkeypatch.setenv("TRILEMMA_CATALOG_DIR", str(folder))
    assert load_catalog().offers["cloud-a100-x1"].usd_per_hour_on_demand == 1.8
    offers = folder / "offers.yaml"
    offers.write_text(offers.read_text().replace("usd_per_hour_on_demand: 1.8", "usd_per_hour_on_demand: 1.7"))
    assert load_catalog().offers["cloud-a100-x1"].usd_per_hour_on_demand == 1.7
    offers.write_text(offers.read_text().replace("usd_per_hour_on_demand: 1.7", "usd_per_hour_on_demand: -1"))
    for _ in range(2):  # an invalid catalog is never cached: the error comes every time
        with pytest.raises(CatalogError, match="usd_per_hour_on_demand"):
            load_catalog()


def test_an_unwritable_or_corrupt_cache_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("TRILEMMA_CATALOG_DIR", str(_copy(tmp_path)))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("TRILEMMA_CACHE_DIR", str(blocker / "trilemma"))
    assert "h100-sxm" in load_catalog().accelerators
    good = tmp_path / "cache"
    monkeypatch.setenv("TRILEMMA_CACHE_DIR", str(good))
    expected = load_catalog()
    (entry,) = good.glob("catalog-*.pickle")
    entry.write_bytes(b"\x80\x05 torn")
    assert load_catalog() == expected


def test_a_named_command_is_built_alone_and_anything_else_gets_every_command():
    from solver.cli import (
        _app_for,
        app,
        commands,  # noqa: F401  (registers the commands)
    )

    lean = _app_for(["--debug", "solve", "problems/chat-70b.yaml", "--json"])
    assert [c.callback.__name__ for c in lean.registered_commands] == ["solve_command"]
    assert lean.registered_groups == [] and lean.registered_callback is app.registered_callback
    assert [g.name for g in _app_for(["catalog", "show", "h100-sxm"]).registered_groups] == ["catalog"]
    for args in (["--help"], ["sovle", "x.yaml"], []):
        assert _app_for(args) is app


def test_the_running_batch_is_the_batch_estimate_reports_in_rate_mode():
    from solver.catalog.loader import load_catalog
    from solver.perf.estimate import estimate_many, running_batch_at_rate

    catalog = load_catalog()
    rows = [{"model": "llama-3.1-70b", "accelerator": "h100-sxm", "engine": "vllm", "gpus": 4, "tp": 4,
             "quant": "fp8", "kv_quant": "fp8", "isl": 2000, "osl": 300, "mode": "rate", "mode_value": rate,
             "max_batch": 256} for rate in (0.2, 1.0, 1e4)]
    rows.append({**rows[0], "accelerator": "l4", "gpus": 1, "tp": 1, "quant": "bf16"})  # does not fit
    batches = running_batch_at_rate(rows, catalog)
    reported = [r["batch"] if r["fits"] else None for r in estimate_many(rows, catalog)]
    assert batches[:3] == pytest.approx(reported[:3], rel=1e-12)
    assert batches[0] < batches[1] < batches[2]
    assert batches[3] is None and reported[3] is None
