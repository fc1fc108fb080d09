"""`trilemma study`: grid expansion, paths and multipliers, hand-computed prices, resume, failures
kept per scenario, and the same table from every back-end. All on the tiny catalog."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import solver.sweep
from solver.errors import ProblemError
from solver.study import Backend, load_study, run_study
from solver.study.results import partial_path
from solver.study.spec import snake_order

BASE = {
    "name": "tiny-two",
    "workloads": [
        {"name": "chat", "model": "llama-3.1-8b", "traffic": {"requests_per_s": 0.2}, "input_tokens": 500,
         "output_tokens": 100, "slo": {"ttft_ms": 5000, "tpot_ms": 200}},
        {"name": "batch.jobs", "model": "llama-3.1-8b", "traffic": {"peak_requests_per_s": 0.5,
                                                                   "daily_shape": "business-hours"},
         "input_tokens": 500, "output_tokens": 100, "slo": {"ttft_ms": 8000, "tpot_ms": 300}},
    ],
    "fleet": {"offers": ["cloud-h100-x1", "cloud-a100-x1"]},
    "solver": {"time_limit_s": 10, "workers": 1},
}

ONE = {**BASE, "name": "tiny-one", "workloads": BASE["workloads"][:1]}
"""One workload of 0.2 req/s: one replica on one GPU of either offer meets its loose SLOs."""

COMPARED = ["scenario", "name", "status", "usd_per_hour", "bound_usd_per_hour", "configuration", "region", "reason"]
"""Every column but the solve time, which differs between runs."""


def write_study(folder: Path, study: dict, base: dict = ONE) -> Path:
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump({"problem": "base.yaml", **study}))
    return path


def test_grid_expansion_sets_every_path_and_visits_neighbours_in_turn(tiny, tmp_path):
    path = write_study(tmp_path, {"axes": [
        {"path": "workloads[*].slo.tpot_ms", "values": "100:300:100", "name": "tpot"},
        {"path": "workloads[batch.jobs].input_tokens", "values": [200, 400]},
        {"path": "workloads[0].traffic.requests_per_s", "values": [0.1, 0.3]},
        {"path": "fleet.offers", "values": [["cloud-h100-x1"], ["cloud-h100-x1", "cloud-a100-x1"]]},
    ]}, BASE)
    plan, _ = load_study(path)
    assert len(plan.scenarios) == 3 * 2 * 2 * 2
    assert sorted(s.id for s in plan.scenarios) == list(range(24))
    # Row-major ids: id = ((i_tpot · 2 + i_len) · 2 + i_rate) · 2 + i_offers.
    by_id = {s.id: s for s in plan.scenarios}
    s = by_id[((2 * 2 + 1) * 2 + 0) * 2 + 1]
    assert s.values == {"tpot": 300.0, "workloads[batch.jobs].input_tokens": 400,
                        "workloads[0].traffic.requests_per_s": 0.1, "fleet.offers": '["cloud-h100-x1","cloud-a100-x1"]'}
    chat, batch = s.problem.workloads
    assert chat.slo.tpot_ms == batch.slo.tpot_ms == 300.0  # [*]: every workload
    assert (chat.input_tokens, batch.input_tokens) == (500, 400)  # [name]: that workload only
    assert (chat.traffic.requests_per_s, batch.traffic.peak_requests_per_s) == (0.1, 0.5)
    assert s.problem.fleet.offers == ["cloud-h100-x1", "cloud-a100-x1"]
    # Consecutive scenarios differ in exactly one axis, by one step.
    order = list(plan.scenarios)
    for a, b in zip(order, order[1:], strict=False):
        changed = [k for k in a.values if a.values[k] != b.values[k]]
        assert len(changed) == 1, (a.values, b.values)
    assert snake_order([2, 3]) == [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0)]


def test_named_scenarios_combine_with_the_grid_and_scale_traffic(tiny, tmp_path):
    path = write_study(tmp_path, {
        "axes": [{"path": "workloads[*].slo.tpot_ms", "values": [150, 250], "name": "tpot"}],
        "scenarios": [{"name": "today", "set": {}},
                      {"name": "growth", "set": {"traffic.scale": 3, "prices.offer.cloud-a100-x1": 0.5}}],
    }, BASE)
    plan, _ = load_study(path)
    assert [(s.id, s.name) for s in plan.scenarios] == [(0, "today"), (1, "today"), (2, "growth"), (3, "growth")]
    growth = plan.scenarios[2]
    chat, batch = growth.problem.workloads
    assert chat.traffic.requests_per_s == pytest.approx(0.6)  # 0.2 × 3
    assert batch.traffic.peak_requests_per_s == pytest.approx(1.5)  # 0.5 × 3, the daily shape kept
    assert growth.prices == (("offer", "cloud-a100-x1", 0.5),)
    assert plan.labels == ["tpot", "prices.offer.cloud-a100-x1", "traffic.scale"]


def test_bad_paths_and_values_are_reported_with_their_place(tiny, tmp_path):
    path = write_study(tmp_path, {
        "axes": [{"path": "workload[*].slo.tpot_ms", "values": [1]},
                 {"path": "workloads[nope].slo.tpot_ms", "values": [1]},
                 {"path": "prices.accelerator.h100", "values": [1]},
                 {"path": "prices.provider.testcloud", "values": [0, 1]},
                 {"path": "traffic.scale", "values": [1, 2], "name": "status"}],
    })
    with pytest.raises(ProblemError) as err:
        load_study(path)
    text = str(err.value)
    assert "axes[0].path: unknown field 'workload' (did you mean: workloads?)" in text
    assert "axes[1].path: workloads[nope]: no item named 'nope'" in text
    assert "axes[2].path: unknown accelerator 'h100' (did you mean: h100-sxm" in text
    assert "axes[3].values[0]: a multiplier must be a number > 0 (got 0)" in text
    assert "axes[4].name: 'status' is a results column; choose another name" in text


def test_a_scenario_whose_problem_is_invalid_is_named(tiny, tmp_path):
    path = write_study(tmp_path, {"axes": [{"path": "workloads[*].slo.tpot_ms", "values": [50, -5], "name": "tpot"}]})
    with pytest.raises(ProblemError) as err:
        load_study(path)
    assert "scenario tpot=-5: workloads[0].slo.tpot_ms: Input should be greater than 0" in str(err.value)


def test_price_multipliers_move_the_optimum_as_computed_by_hand(tiny, tmp_path):
    # One replica on one GPU: a100 costs 1.8·a·p USD/h, h100 3.0·p (a = a100 factor, p = provider
    # factor, both offers on testcloud). a=1: a100 (1.8·p); a=2: 3.6·p > 3.0·p, so h100.
    path = write_study(tmp_path, {"axes": [{"path": "prices.accelerator.a100-80gb-sxm", "values": [1, 2], "name": "a"},
                                           {"path": "prices.provider.testcloud", "values": [0.5, 1], "name": "p"}]})
    plan, catalog = load_study(path)
    table = run_study(plan, catalog, tmp_path / "out.csv")
    got = {(r.a, r.p): (r.usd_per_hour, r.region) for r in table.itertuples()}
    assert got[1, 0.5] == (pytest.approx(0.9), "a100-80gb-sxm tp1pp1ep1 bf16")
    assert got[1, 1] == (pytest.approx(1.8), "a100-80gb-sxm tp1pp1ep1 bf16")
    assert got[2, 0.5][0] == pytest.approx(1.5) and got[2, 0.5][1].startswith("h100-sxm")
    assert got[2, 1][0] == pytest.approx(3.0) and got[2, 1][1].startswith("h100-sxm")
    assert (table["bound_usd_per_hour"] == table["usd_per_hour"]).all()  # proven optimal: bound = cost
    assert catalog.offers["cloud-a100-x1"].usd_per_hour_on_demand == 1.8  # the loaded catalog is untouched
    written = pd.read_csv(tmp_path / "out.csv")
    assert written["usd_per_hour"].tolist() == pytest.approx(table["usd_per_hour"].tolist())
    assert not partial_path(tmp_path / "out.csv").exists()


def _grid_study(tmp_path: Path) -> Path:
    return write_study(tmp_path, {"axes": [
        {"path": "workloads[*].slo.tpot_ms", "values": [60, 120, 240], "name": "tpot"},
        {"path": "traffic.scale", "values": [1, 30, 90], "name": "scale"}]})


def _counting_solve(monkeypatch, fail_when=None) -> list:
    calls = []
    real = solver.sweep.solve

    def solve(problem, catalog, **kw):
        calls.append(problem)
        if fail_when and fail_when(problem):
            raise RuntimeError("the disk is on fire")
        return real(problem, catalog, **kw)

    monkeypatch.setattr(solver.sweep, "solve", solve)
    return calls


def test_resume_solves_only_what_the_partial_file_lacks(tiny, tmp_path, monkeypatch):
    plan, catalog = load_study(_grid_study(tmp_path))
    full = run_study(plan, catalog, tmp_path / "full.csv")
    # A run stopped after three records, in the middle of writing a fourth.
    out = tmp_path / "resumed.csv"
    header = {"trilemma_study": plan.fingerprint, "scenarios": 9}
    kept = full.iloc[[0, 4, 8]].to_dict("records")
    partial_path(out).write_text("\n".join(json.dumps(r) for r in [header, *kept]) + '\n{"scenario": 5, "sta')
    calls = _counting_solve(monkeypatch)
    resumed = run_study(plan, catalog, out, resume=True)
    assert len(calls) == 9 - 3
    pd.testing.assert_frame_equal(resumed[COMPARED], full[COMPARED])
    assert resumed.loc[[0, 4, 8], "solve_time_s"].tolist() == full.loc[[0, 4, 8], "solve_time_s"].tolist()


def test_resume_refuses_partial_results_of_another_study(tiny, tmp_path):
    plan, catalog = load_study(_grid_study(tmp_path))
    out = tmp_path / "r.csv"
    partial_path(out).write_text(json.dumps({"trilemma_study": "0" * 32, "scenarios": 9}) + "\n")
    with pytest.raises(Exception, match="belong to another version of the study"):
        run_study(plan, catalog, out, resume=True)


def test_a_failing_scenario_is_reported_and_the_others_are_kept(tiny, tmp_path, monkeypatch, cli):
    path = write_study(tmp_path, {"axes": [{"path": "workloads[*].slo.tpot_ms", "values": [0.5, 150, 200, 250],
                                            "name": "tpot"}]})
    _counting_solve(monkeypatch, fail_when=lambda p: p.workloads[0].slo.tpot_ms == 200)
    out = tmp_path / "r.csv"
    result = cli("study", path, "--out", out)
    assert result.exit_code == 5
    assert "scenario 2 (tpot=200): RuntimeError: the disk is on fire" in result.stderr
    assert "1 of 4 scenarios failed" in result.stderr
    table = pd.read_csv(out).set_index("tpot")
    assert table.loc[200.0, "status"] == "error"
    assert table.loc[0.5, "status"] == "infeasible"  # no GPU decodes a token in 0.5 ms: a result, not a failure
    assert "tpot" in table.loc[0.5, "reason"].lower()
    assert table.loc[150.0, "status"] == table.loc[250.0, "status"] == "optimal"


def test_two_local_processes_give_the_same_table_as_one(tiny, tmp_path):
    plan, catalog = load_study(_grid_study(tmp_path))
    one = run_study(plan, catalog, tmp_path / "one.csv")
    two = run_study(plan, catalog, tmp_path / "two.csv", Backend("processes", jobs=2))
    pd.testing.assert_frame_equal(one[COMPARED], two[COMPARED])
    assert set(one["status"]) == {"optimal"}


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_ray_on_a_local_two_cpu_instance_gives_the_same_table(tiny, tmp_path):
    plan, catalog = load_study(_grid_study(tmp_path))
    one = run_study(plan, catalog, tmp_path / "one.csv")
    on_ray = run_study(plan, catalog, tmp_path / "ray.csv", Backend("ray", jobs=2, ray_address="local"))
    pd.testing.assert_frame_equal(one[COMPARED], on_ray[COMPARED])


def test_cli_refuses_to_overwrite_and_checks_the_output_format_first(tiny, tmp_path, cli, monkeypatch):
    path = _grid_study(tmp_path)
    out = tmp_path / "r.csv"
    out.write_text("old results\n")
    result = cli("study", path, "--out", out)
    assert result.exit_code == 1
    assert "r.csv exists; pass --resume to continue an interrupted study or --force to start over" in result.stderr
    assert out.read_text() == "old results\n"
    result = cli("study", path, "--out", tmp_path / "r.xlsx")
    assert result.exit_code == 1 and "unknown format '.xlsx'; allowed: .csv, .parquet" in result.stderr
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else object())
    result = cli("study", path, "--out", tmp_path / "r.parquet")
    assert result.exit_code == 1
    assert "writing Parquet needs pyarrow (pip install pyarrow); or write a .csv file" in result.stderr
    assert not (tmp_path / "r.parquet.partial.jsonl").exists()  # refused before solving anything


def test_cli_writes_results_and_charts(tiny, tmp_path, cli):
    path = _grid_study(tmp_path)
    result = cli("study", path, "--out", tmp_path / "r.csv", "--plots", tmp_path / "charts", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["scenarios"] == 9 and summary["statuses"] == {"optimal": 9}
    names = sorted(Path(p).name for p in summary["plots"])
    assert names == ["cost-vs-scale.png", "cost-vs-tpot.png", "regions.png"]
    assert all((tmp_path / "charts" / n).stat().st_size > 5000 for n in names)
    # Cost never falls as traffic grows at a fixed SLO.
    table = pd.read_csv(tmp_path / "r.csv")
    for _, part in table.groupby("tpot"):
        costs = part.sort_values("scale")["usd_per_hour"].tolist()
        assert costs == sorted(costs)


@pytest.mark.parametrize("name,count", [("chat-70b-grid.yaml", 2500), ("chat-70b-what-if.yaml", 10)])
def test_the_example_studies_expand(name, count):
    plan, _ = load_study(Path(__file__).parents[1] / "studies" / name)
    assert len(plan.scenarios) == count
    assert sorted(s.id for s in plan.scenarios) == list(range(count))


def test_the_what_if_example_solves_every_scenario(tmp_path):
    plan, catalog = load_study(Path(__file__).parents[1] / "studies" / "chat-70b-what-if.yaml")
    table = run_study(plan, catalog, tmp_path / "what-if.csv").set_index(["name", "tpot_ms"])
    assert set(table["status"]) == {"optimal"}
    # Three times the traffic never costs less; an AWS/GCP-only fleet never costs less than all providers.
    for tpot in (35, 50):
        assert table.loc[("traffic x3", tpot), "usd_per_hour"] >= table.loc[("today", tpot), "usd_per_hour"]
        assert table.loc[("AWS and GCP only", tpot), "usd_per_hour"] >= table.loc[("today", tpot), "usd_per_hour"]
        assert table.loc[("H100 price -30%", tpot), "usd_per_hour"] <= table.loc[("today", tpot), "usd_per_hour"]


def test_ray_missing_or_unreachable_is_bad_input_and_leaves_no_partial_file(tiny, tmp_path, cli, monkeypatch):
    path = _grid_study(tmp_path)
    out = tmp_path / "r.csv"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    result = cli("study", path, "--out", out, "--ray", "auto")
    assert result.exit_code == 1
    assert "command line: --ray: Ray is not installed; pip install 'trilemma[ray]'" in result.stderr
    assert not partial_path(out).exists() and not out.exists()
