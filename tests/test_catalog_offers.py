"""The built-in offers (catalogs/offers.yaml) and the price commands: shape, price order, dates,
provenance, engine coverage; `catalog offers --stale`, `catalog prices`, `catalog accelerators`
and the "prices as of" field of solve reports."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml

from solver.catalog import load_catalog
from solver.catalog.coverage import engine_coverage, engines_for
from solver.catalog.loader import builtin_catalog_dir
from solver.catalog.prices import accelerator_prices, oldest_price_date, stale_offers
from solver.perf import estimate

CATALOG = load_catalog()
OFFERS = sorted(CATALOG.offers.values(), key=lambda o: o.id)
RAW = yaml.safe_load((builtin_catalog_dir() / "offers.yaml").read_text())["offers"]


# ---------------------------------------------------------------- data: shape, prices, dates, sources

@pytest.mark.parametrize("offer", OFFERS, ids=lambda o: o.id)
def test_gpus_per_instance_is_a_node_share_or_a_whole_scale_up_domain(offer):
    """A cloud instance is a slice of one node (1, 2, 4 of 8 GPUs...) or, for rack-scale parts, the
    whole NVLink domain (72 GPUs of a GB200 NVL72); never a count that splits a node unevenly."""
    acc = CATALOG.accelerators[offer.accelerator]
    g, node, domain = offer.gpus_per_instance, acc.gpus_per_node, acc.scale_up_domain_gpus
    node_share = node % g == 0
    whole_domain = domain > node and g == domain
    assert node_share or whole_domain, f"{offer.id}: {g} GPUs on {acc.id} (node {node}, domain {domain})"


def test_rack_scale_parts_are_one_72_gpu_domain_and_the_rack_offer_buys_it_whole():
    for acc_id in ("gb200", "gb300"):
        acc = CATALOG.accelerators[acc_id]
        assert (acc.gpus_per_node, acc.scale_up_domain_gpus) == (4, 72)
    rack = CATALOG.offers["coreweave-gb200-nvl72-rack"]
    assert rack.gpus_per_instance == 72
    assert rack.usd_per_hour_on_demand == pytest.approx(18 * 42.00)  # 18 gb200-4x nodes at 42.00 USD/h
    # every other offer of a rack-scale part rents one 4-GPU compute node (Oracle's BM.GPU.GB200.4 / GB300.4)
    for offer in OFFERS:
        if offer.accelerator in ("gb200", "gb300"):
            assert offer.gpus_per_instance in (4, 72), offer.id
    assert {o.gpus_per_instance for o in OFFERS if o.accelerator == "gb300"} == {4}


@pytest.mark.parametrize("offer", OFFERS, ids=lambda o: o.id)
def test_price_order_spot_below_on_demand_above_reserved(offer):
    od, spot = offer.usd_per_hour_on_demand, offer.usd_per_hour_spot
    r1, r3 = offer.usd_per_hour_reserved_1y, offer.usd_per_hour_reserved_3y
    if od and spot:
        assert spot <= od
    if od and r1:
        assert r1 <= od
    if od and r3:
        assert r3 <= od
    if r1 and r3:
        assert r3 <= r1


def test_derived_per_gpu_prices_multiply_out():
    """Per-GPU-hour rate cards were turned into instance prices by hand; spot-check the products."""
    assert CATALOG.offers["hyperstack-8x-b300"].usd_per_hour_on_demand == pytest.approx(8 * 7.40)
    assert CATALOG.offers["crusoe-8x-mi300x"].usd_per_hour_spot == pytest.approx(8 * 1.71)
    tpu = CATALOG.offers["gcp-tpu-v6e-4-us-east5"]
    assert (tpu.usd_per_hour_on_demand, tpu.usd_per_hour_reserved_1y, tpu.usd_per_hour_reserved_3y) == \
        pytest.approx((4 * 2.70, 4 * 1.89, 4 * 1.22))
    for chips in (1, 4, 8):  # TPU v5e slices: 1.20 on demand, 0.60 spot per chip-hour in us-east5
        v5e = CATALOG.offers[f"gcp-tpu-v5e-{chips}-us-east5"]
        assert (v5e.usd_per_hour_on_demand, v5e.usd_per_hour_spot) == pytest.approx((chips * 1.20, chips * 0.60))
    assert CATALOG.offers["oci-bm-gpu-mi355x-us-chicago-1"].usd_per_hour_on_demand / 8 == pytest.approx(8.60)


def test_yearly_server_rentals_are_one_year_terms_per_hour():
    """Qubrid prices dedicated servers by the year: the 1-year price per hour times 8760 gives the page's figure,
    and such an offer has no on-demand, spot or 3-year price to invent."""
    yearly = {"qubrid-bare-metal-8x-h100-sxm": 133_414.80, "qubrid-bare-metal-8x-h200-sxm": 210_240,
              "qubrid-bare-metal-8x-b200": 297_840, "qubrid-bare-metal-8x-b300": 389_400,
              "qubrid-bare-metal-8x-a100-80gb-sxm": 89_500}
    for offer_id, per_year in yearly.items():
        offer = CATALOG.offers[offer_id]
        assert offer.usd_per_hour_reserved_1y * 8760 == pytest.approx(per_year, abs=1.0), offer_id
        assert offer.usd_per_hour("reserved_1y") == offer.usd_per_hour_reserved_1y
        assert [offer.usd_per_hour(t) for t in ("on_demand", "spot", "reserved_3y")] == [None, None, None]


@pytest.mark.parametrize("entry", RAW, ids=lambda e: e["id"])
def test_as_of_is_an_iso_date_not_in_the_future(entry):
    # yaml.safe_load turns only ISO dates (YYYY-MM-DD) into date objects; anything else stays a string.
    assert type(entry["as_of"]) is dt.date, f"{entry['id']}: as_of {entry['as_of']!r} is not YYYY-MM-DD"
    assert dt.date(2023, 1, 1) <= entry["as_of"] <= dt.date.today()


LOCAL_PATH = re.compile(r"(^|[\s(])(/[\w.-]|~/|\./|\.\./|file:|[A-Za-z]:\\)|/work/|/home/|/tmp/")


@pytest.mark.parametrize("offer", OFFERS, ids=lambda o: o.id)
def test_source_is_public_not_a_filesystem_path(offer):
    for where, text in [("source", offer.source), *offer.price_sources.items()]:
        assert text.strip(), f"{offer.id}: empty {where}"
        assert not LOCAL_PATH.search(text), f"{offer.id}: {where} cites a local path: {text!r}"


def test_local_path_pattern_catches_what_it_should():
    for bad in ("/work/shared/reference/x.csv", "see ./data/prices.csv", "file:///x", "~/prices.csv"):
        assert LOCAL_PATH.search(bad), bad
    for good in ("https://www.coreweave.com/pricing", "github.com/a/b plans/x.yml @abc", "https://x.y/a/b (c/d)",
                 "AWS price list / Azure retail prices"):
        assert not LOCAL_PATH.search(good), good


def test_coverage_targets_of_the_offers_catalog():
    providers = {o.provider for o in OFFERS if o.kind == "cloud"}
    buyable = {o.accelerator for o in OFFERS}
    assert len(OFFERS) >= 150
    assert len(providers) >= 12
    assert len(buyable) >= 20
    assert {"gb200", "gb300", "b300", "rtx-pro-6000", "mi325x", "mi355x", "tpu-v5e", "tpu-v6e"} <= buyable
    termed = {o.provider for o in OFFERS if o.usd_per_hour_reserved_1y or o.usd_per_hour_reserved_3y}
    assert "gcp" in termed and termed - {"gcp"}, termed


# ---------------------------------------------------------------- engines run what can be bought

def _smallest_runnable(acc_id: str, gpus: int) -> tuple[str, str] | None:
    """(engine, model) of the smallest catalog model an engine serves on `gpus` GPUs of acc_id."""
    models = sorted(CATALOG.models.values(), key=lambda m: m.published_total_params_b or 1e9)
    for engine in engines_for(CATALOG, acc_id):
        for model in models:
            try:
                res = estimate(model.id, acc_id, gpus, isl=512, osl=128, engine=engine, quant="bf16",
                               catalog=CATALOG)
            except Exception:  # this (engine, model, quant) does not run here; try the next
                continue
            if not res.get("reason") and res.get("output_tokens_per_s", 0) > 0:
                return engine, model.id
    return None


@pytest.mark.parametrize("acc_id", sorted({o.accelerator for o in OFFERS}))
def test_every_buyable_accelerator_runs_a_catalog_model_or_says_why_not(acc_id):
    gpus = max(o.gpus_per_instance for o in OFFERS if o.accelerator == acc_id)
    gpus = min(gpus, CATALOG.accelerators[acc_id].gpus_per_node)
    coverage = engine_coverage(CATALOG)[acc_id]
    found = _smallest_runnable(acc_id, gpus)
    if found is None:
        assert coverage.startswith("none: "), f"{acc_id}: no engine runs a model, yet no reason is given"
    else:
        assert found[0] in coverage


def test_an_accelerator_no_engine_supports_is_listed_with_the_reason(fixture_catalog, cli, tmp_path):
    extra = tmp_path / "npu.yaml"
    acc = dict(CATALOG.accelerators["gaudi3"].model_dump(mode="json", exclude_none=True), id="gaudi3-test")
    family = CATALOG.families["gaudi"].model_dump(mode="json", exclude_none=True)
    extra.write_text(yaml.safe_dump({"accelerators": [acc], "families": [family]}))
    out = json.loads(cli("catalog", "accelerators", "--json", "--catalog", extra).stdout)
    row = next(r for r in out if r["id"] == "gaudi3-test")
    assert row["engines"].startswith("none: no engine in the catalog supports the gaudi family")
    assert row["offers"] == 0 and row["cheapest_on_demand_usd_per_gpu_hour"] is None


# ---------------------------------------------------------------- library functions

def test_oldest_price_date_and_stale_offers_on_the_built_in_catalog():
    a, b = CATALOG.offers["gcp-a3-highgpu-8g-us-east4"], CATALOG.offers["coreweave-hgx-h100-8x"]
    assert oldest_price_date(CATALOG, [b.id, a.id, b.id]) == (dt.date(2025, 3, 6), a.id)
    assert oldest_price_date(CATALOG, []) is None
    old = stale_offers(CATALOG, 365, today=dt.date(2026, 12, 3))
    assert a.id in {o.id for o in old} and b.id not in {o.id for o in old}
    assert all(o.as_of < dt.date(2025, 12, 3) for o in old)


def test_accelerator_prices_pick_the_cheapest_per_gpu_hour():
    prices = accelerator_prices(CATALOG)
    rack = prices["gb200"]
    # the CoreWeave rack (756 / 72 = 10.50 per GPU) undercuts Oracle's 4-GPU node (64 / 4 = 16.00)
    assert rack.offers == sum(o.accelerator == "gb200" for o in OFFERS) >= 2
    assert rack.cheapest_on_demand_usd_per_gpu_hour == pytest.approx(756.0 / 72)
    for acc_id, row in prices.items():
        sold = [o for o in OFFERS if o.accelerator == acc_id]
        assert row.offers == len(sold), acc_id
        per_gpu = [o.usd_per_hour_on_demand / o.gpus_per_instance for o in sold if o.usd_per_hour_on_demand]
        if per_gpu:
            assert row.cheapest_on_demand_usd_per_gpu_hour == pytest.approx(min(per_gpu)), acc_id
        else:
            assert row.cheapest_on_demand_usd_per_gpu_hour is None, acc_id


# ---------------------------------------------------------------- CLI over the small fixture catalog

def _catalog_file(tmp_path: Path, offers: list[dict]) -> Path:
    path = tmp_path / "extra.yaml"
    path.write_text(yaml.safe_dump({"offers": offers}, sort_keys=False))
    return path


def _offer(ident: str, as_of: dt.date, od: float, gpus: int = 8, acc: str = "h100-sxm") -> dict:
    return {"id": ident, "kind": "cloud", "provider": "testcloud", "instance_type": ident, "accelerator": acc,
            "gpus_per_instance": gpus, "usd_per_hour_on_demand": od, "source": "https://example.com/prices",
            "as_of": as_of}


def test_stale_lists_only_offers_older_than_the_days_given(fixture_catalog, cli, tmp_path):
    today = dt.date.today()
    extra = _catalog_file(tmp_path, [_offer("fresh", today - dt.timedelta(days=10), 20.0),
                                     _offer("old", today - dt.timedelta(days=400), 20.0)])
    res = cli("catalog", "offers", "--stale", "100", "--json", "--catalog", extra)
    assert res.exit_code == 0
    ids = {o["id"] for o in json.loads(res.stdout)}
    # The fixture catalog's two offers are dated 2025-01-15, more than 100 days ago.
    assert ids == {"old", "aws-p5-48xlarge", "owned-hgx-h100"}
    res = cli("catalog", "offers", "--stale", "5", "--json", "--catalog", extra)
    assert {o["id"] for o in json.loads(res.stdout)} >= {"fresh", "old"}
    res = cli("catalog", "offers", "--stale", "100000")
    assert res.exit_code == 0 and "no offer is older than 100000 days" in res.stderr


def test_stale_rejects_a_negative_number_of_days(fixture_catalog, cli):
    res = cli("catalog", "offers", "--stale", "-3")
    assert res.exit_code == 1
    assert "--stale" in res.stderr and "days >= 0" in res.stderr
    assert "Traceback" not in res.stderr


def test_accelerators_table_counts_offers_and_cheapest_on_demand_per_gpu(fixture_catalog, cli, tmp_path):
    extra = _catalog_file(tmp_path, [_offer("four", dt.date(2026, 1, 1), 10.0, gpus=4),      # 2.50 per GPU
                                     _offer("one", dt.date(2026, 1, 1), 2.60, gpus=1)])      # 2.60 per GPU
    out = json.loads(cli("catalog", "accelerators", "--json", "--catalog", extra).stdout)
    h100 = next(r for r in out if r["id"] == "h100-sxm")
    # fixture: aws-p5-48xlarge 98.32 / 8 = 12.29 per GPU and one owned server; plus the two above
    assert h100["offers"] == 4
    assert h100["cheapest_on_demand_usd_per_gpu_hour"] == pytest.approx(2.50)
    assert h100["cheapest_on_demand_offer"] == "four"
    a100 = next(r for r in out if r["id"] == "a100-sxm-80gb")
    assert a100["offers"] == 0 and a100["cheapest_on_demand_usd_per_gpu_hour"] is None
    table = cli("catalog", "accelerators", "--catalog", extra).stdout
    row = next(line for line in table.splitlines() if "h100-sxm" in line)
    assert "│ 4 " in row and "2.5" in row and "four" in row


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_prices_import_replaces_a_catalog_price_and_adds_a_new_instance(fixture_catalog, cli, tmp_path):
    csv_in = _write(tmp_path / "deal.csv",
                    "provider,instance,tier,price,as_of\n"
                    "aws,p5.48xlarge,reserved_1y,61.50,2026-06-01\n"
                    "aws,p5.48xlarge,reserved_3y,40.25,2026-06-01\n"
                    "\n"
                    "neocloud,h100x8,on_demand,18.00,2026-07-01\n")
    out = tmp_path / "deal.yaml"
    res = cli("catalog", "prices", csv_in, "-o", out)
    assert res.exit_code == 1  # the new instance lacks accelerator and gpus_per_instance
    assert "row 5, column instance" in res.stderr and "accelerator and gpus_per_instance" in res.stderr
    assert not out.exists()

    csv_in = _write(tmp_path / "deal.csv",
                    "provider,instance,tier,price,as_of,accelerator,gpus_per_instance\n"
                    "aws,p5.48xlarge,reserved_1y,61.50,2026-06-01,,\n"
                    "aws,p5.48xlarge,reserved_3y,40.25,2026-06-01,,\n"
                    "neocloud,h100x8,on_demand,18.00,2026-07-01,h100-sxm,8\n")
    res = cli("catalog", "prices", csv_in, "-o", out)
    assert res.exit_code == 0, res.stderr
    assert "wrote 2 offers" in res.stdout and "1 replace catalog offers, 1 new" in res.stdout
    doc = yaml.safe_load(out.read_text())
    by_id = {o["id"]: o for o in doc["offers"]}
    aws = by_id["aws-p5-48xlarge"]
    assert (aws["usd_per_hour_reserved_1y"], aws["usd_per_hour_reserved_3y"]) == (61.50, 40.25)
    # the public on-demand and spot prices stay, with their source, and the entry is as old as they are
    assert (aws["usd_per_hour_on_demand"], aws["usd_per_hour_spot"]) == (98.32, 40.0)
    assert set(aws["price_sources"]) == {"usd_per_hour_on_demand", "usd_per_hour_spot"}
    assert aws["as_of"] == dt.date(2025, 1, 15)
    new = by_id["neocloud-h100x8"]
    assert (new["accelerator"], new["gpus_per_instance"], new["usd_per_hour_on_demand"]) == ("h100-sxm", 8, 18.0)
    assert new["as_of"] == dt.date(2026, 7, 1) and "deal.csv row 4" in new["source"]
    # the file is a catalog `--catalog` accepts, and the merged catalog carries the negotiated price
    assert cli("catalog", "validate", out).exit_code == 0
    shown = json.loads(cli("catalog", "show", "aws-p5-48xlarge", "--json", "--catalog", out).stdout)
    assert shown["usd_per_hour_reserved_1y"] == 61.50


@pytest.mark.parametrize(("csv_text", "location", "words"), [
    ("provider,instance,price\naws,p5.48xlarge,1\n", "header", "missing column(s) tier"),
    ("provider,instance,tier,price,colour\naws,p5.48xlarge,spot,1,red\n", "header", "unknown column 'colour'"),
    ("provider,instance,tier,price\naws,p5.48xlarge,monthly,10\n", "row 2, column tier", "allowed: on_demand"),
    ("provider,instance,tier,price\naws,p5.48xlarge,spot,-4\n", "row 2, column price", "positive"),
    ("provider,instance,tier,price\naws,p5.48xlarge,spot,cheap\n", "row 2, column price", "not a number"),
    ("provider,instance,tier,price\naws,p5.48xlarge,spot,10,extra\n", "row 2", "5 fields, the header has 4"),
    ("provider,instance,tier,price,as_of\naws,p5.48xlarge,spot,10,09/11/2026\n", "row 2, column as_of",
     "ISO date"),
    ("provider,instance,tier,price\naws,p5.48xlarge,spot,20\naws,p5.48xlarge,spot,21\n", "row 3, column tier",
     "a second spot price"),
    ("provider,instance,tier,price\naws,p5.48xlarg,spot,20\n", "row 2, column instance", "did you mean"),
    ("provider,instance,tier,price\naws,p5.48xlarge,spot,120\n", "usd_per_hour_spot",
     "spot price 120 is above on-demand 98.32"),
    ("", "", "empty file"),
])
def test_prices_import_rejects_bad_csv_with_a_clear_error(fixture_catalog, cli, tmp_path, csv_text, location,
                                                           words):
    csv_in = _write(tmp_path / "bad.csv", csv_text)
    out = tmp_path / "bad.yaml"
    res = cli("catalog", "prices", csv_in, "-o", out)
    assert res.exit_code == 1
    assert location in res.stderr and words in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()


def test_prices_import_of_a_binary_file_is_a_clear_error(fixture_catalog, cli, tmp_path):
    bad = tmp_path / "prices.xlsx"
    bad.write_bytes(b"PK\x03\x04\x14\x00\xff\xfe\x00garbage")
    res = cli("catalog", "prices", bad, "-o", tmp_path / "x.yaml")
    assert res.exit_code == 1 and "not a UTF-8 text file" in res.stderr


def test_solve_json_and_table_state_the_oldest_price_date(cli, tmp_path):
    problem = _write(tmp_path / "p.yaml", """
name: dated
workloads:
  - name: chat
    model: llama-3.1-8b
    traffic: {requests_per_s: 1}
    input_tokens: 500
    output_tokens: 100
    slo: {ttft_ms: 3000, tpot_ms: 100}
fleet:
  offers: [gcp-a3-highgpu-1g-us-central1]
  pricing_tiers: [on_demand]
""")
    res = cli("solve", problem, "--json")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert {i["offer"] for i in out["instances"]} == {"gcp-a3-highgpu-1g-us-central1"}
    # that offer's prices come from the GCP snapshot generated 2025-03-06
    assert out["prices_as_of_oldest"] == "2025-03-06"
    assert out["prices_as_of_oldest_offer"] == "gcp-a3-highgpu-1g-us-central1"
    table = cli("solve", problem).stdout
    assert "Prices as of: oldest 2025-03-06 (offer gcp-a3-highgpu-1g-us-central1" in table


def test_sweep_json_and_table_state_the_oldest_price_date(cli, tmp_path):
    problem = _write(tmp_path / "p.yaml", """
name: dated-sweep
workloads:
  - name: chat
    model: llama-3.1-8b
    traffic: {requests_per_s: 1}
    input_tokens: 500
    output_tokens: 100
    slo: {ttft_ms: 3000, tpot_ms: 100}
fleet:
  offers: [gcp-a3-highgpu-1g-us-central1, lambda-1x-h100-sxm]
  pricing_tiers: [on_demand]
""")
    res = cli("sweep", problem, "--tpot-ms", "60,100", "--json")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    used = {o for p in out["points"] for o in p["offers"].split(";")}
    dates = {"gcp-a3-highgpu-1g-us-central1": "2025-03-06", "lambda-1x-h100-sxm": "2026-09-25"}
    assert used and used <= set(dates)
    assert out["prices_as_of_oldest"] == min(dates[o] for o in used)
    assert "Prices as of: oldest " + min(dates[o] for o in used) in cli("sweep", problem, "--tpot-ms", "60,100").stdout


def _unsold_copies(tmp_path: Path, *acc_ids: str) -> Path:
    """A catalog file with copies of built-in accelerators under new ids, which no offer sells."""
    accs = [dict(CATALOG.accelerators[a].model_dump(mode="json", exclude_none=True), id=f"{a}-unsold") for a in acc_ids]
    return _write(tmp_path / "unsold.yaml", yaml.safe_dump({"accelerators": accs}, sort_keys=False))


def test_solve_names_allowed_accelerators_that_nothing_sells(cli, tmp_path):
    extra = _unsold_copies(tmp_path, "gaudi3", "mi355x")
    problem = _write(tmp_path / "p.yaml", """
name: unpriced
workloads:
  - name: chat
    model: llama-3.1-8b
    traffic: {requests_per_s: 1}
    input_tokens: 500
    output_tokens: 100
    slo: {ttft_ms: 3000, tpot_ms: 100}
fleet:
  accelerators: [l4, gaudi3-unsold, mi355x-unsold]
  pricing_tiers: [on_demand]
""")
    out = json.loads(cli("solve", problem, "--json", "--catalog", extra).stdout)
    assert out["accelerators_without_offers"] == ["gaudi3-unsold", "mi355x-unsold"]
    assert "No offer in the catalogs for: gaudi3-unsold, mi355x-unsold" in cli("solve", problem, "--catalog",
                                                                               extra).stdout


def test_offers_no_plan_needs_are_left_out():
    """Same accelerator and instance size: an offer selling every tier it sells at no higher price, without
    an instance cap, makes it unnecessary; cheaper spot, an extra tier, a cap, another size or owned
    hardware keep it; of two equal offers the first id stays."""
    from solver.optimize.data import OfferData
    from solver.optimize.inputs import without_dominated_offers

    def offer(oid, prices, gpus=8, cap=None, kind="cloud"):
        return OfferData(id=oid, accelerator="h100-sxm", gpus_per_instance=gpus, usd_per_hour=prices,
                         max_instances=cap, kind=kind)

    offers = {o.id: o for o in [
        offer("a", {"on_demand": 10.0, "spot": 3.0}),
        offer("b", {"on_demand": 12.0, "spot": 2.0}),          # cheaper spot: kept
        offer("c", {"on_demand": 11.0, "spot": 4.0}),          # a is cheaper on both: left out
        offer("d", {"on_demand": 10.0, "spot": 3.0}),          # equal to a: the first id (a) stays
        offer("e", {"on_demand": 9.0, "spot": 1.0}, cap=2),    # cheapest but capped: kept, dominates nothing
        offer("f", {"on_demand": 13.0, "reserved_1y": 6.0}),   # sells a tier a does not: kept
        offer("g", {"on_demand": 11.0, "spot": 4.0}, gpus=4),  # another instance size: kept
        offer("h", {"owned": 20.0}, kind="owned"),             # owned hardware: kept
    ]}
    assert sorted(without_dominated_offers(offers)) == ["a", "b", "e", "f", "g", "h"]
