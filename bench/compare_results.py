"""Record or compare a snapshot of every user-visible result, to prove a refactoring changed none.

    python bench/compare_results.py record SNAPSHOT_DIR     # write the outputs
    python bench/compare_results.py compare SNAPSHOT_DIR    # exit 1 unless every output is byte-identical

It runs, through the installed `trilemma` CLI: `solve --json` on every file in `problems/`, a small
`sweep --json` of two problems, `validate --json` on `validation/cases.csv`, and
`estimate --batch validation/cases.csv --json`. Only timing fields are stripped before comparing.
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "validation" / "cases.csv"
TIMING_KEYS = {"solve_time_s", "total_time_s", "wall_time_s", "elapsed_s"}
SWEEPS = {
    "sweep-chat-70b": ["problems/chat-70b.yaml", "--tpot-ms", "20,35,50,80"],
    "sweep-tight-interactive": ["problems/tight-interactive.yaml", "--ttft-ms", "300,600,1200"],
}


def _strip_timing(value):
    if isinstance(value, dict):
        return {k: _strip_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_strip_timing(v) for v in value]
    return value


def _run(args: list[str]) -> str:
    proc = subprocess.run(["trilemma", *args], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode not in (0, 2):  # 2 = infeasible: its explanation is a result too
        raise SystemExit(f"trilemma {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    if proc.returncode == 2:
        return f"exit 2\n{proc.stderr}"
    return json.dumps(_strip_timing(json.loads(proc.stdout)), indent=2, sort_keys=True) + "\n"


def commands() -> dict[str, list[str]]:
    """Snapshot file name -> CLI arguments."""
    out = {f"solve-{p.stem}": ["solve", f"problems/{p.name}", "--json"]
           for p in sorted((ROOT / "problems").glob("*.yaml"))}
    out.update({name: ["sweep", *args, "--json"] for name, args in SWEEPS.items()})
    out["validate"] = ["validate", "--cases", str(CASES), "--json"]
    out["estimate-batch"] = ["estimate", "--batch", str(CASES), "--json"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["record", "compare"])
    parser.add_argument("snapshot", type=Path)
    args = parser.parse_args()
    if args.action == "record":
        args.snapshot.mkdir(parents=True, exist_ok=True)
    differ = []
    for name, cli_args in commands().items():
        text = _run(cli_args)
        path = args.snapshot / f"{name}.txt"
        if args.action == "record":
            path.write_text(text)
            print(f"recorded {path.name}")
            continue
        old = path.read_text() if path.exists() else ""
        if old == text:
            print(f"same     {path.name}")
        else:
            differ.append(name)
            print(f"DIFFERS  {path.name}")
            sys.stdout.writelines(list(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                            "before", "after", n=1))[:40])
    if differ:
        print(f"{len(differ)} output(s) differ: {', '.join(differ)}")
        return 1
    if args.action == "compare":
        print("all outputs byte-identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
