"""Which cases calibrate the profiles: validate-only sources are predicted and reported but fit nothing,
closed-loop runs get the start their source documents, and small groups take their family prior."""

from __future__ import annotations

from solver.catalog.loader import load_catalog
from solver.perf.accuracy import VALIDATE_ONLY_SOURCES, load_cases
from solver.perf.calibrate import MIN_FIT_CASES, _grp, build_profiles, groups, source_of

CATALOG = load_catalog()
CASES, _ = load_cases()


def test_validate_only_sources_are_loaded_but_fit_no_group():
    held = [c for c in CASES if source_of(c) in VALIDATE_ONLY_SOURCES]
    assert len(held) >= 30 and all(c["fit"] is False for c in held)
    fitted = {c["case_id"] for group in groups(CASES, CATALOG).values() for c in group}
    assert fitted == {c["case_id"] for c in CASES if c.get("fit") is not False and _grp(c, CATALOG)}


def test_inferencex_closed_loops_start_as_a_burst():
    rows = [c for c in CASES if source_of(c) == "inferencex" and c["mode"] == "concurrency"]
    assert len(rows) >= 40 and {c["closed_loop"] for c in rows} == {"burst"}


def test_a_group_below_the_minimum_is_not_fitted():
    sglang_hopper = [c for c in CASES if c["engine"] == "sglang" and c["accelerator"] == "h200-sxm"
                     and c.get("fit") is not False]
    assert 0 < len(sglang_hopper) < MIN_FIT_CASES
    out, fits = build_profiles(sglang_hopper, CATALOG, "test")
    assert not fits
    entry = next(e for e in out["sglang"] if e["families"] == ["hopper"])
    assert entry["fitted_to"].startswith("prior")
