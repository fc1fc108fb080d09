"""A study's results: the partial results file that makes a run resumable, and the final table.

The partial file is JSON lines: a header `{"trilemma_study": fingerprint, "scenarios": n}`, then one
record per solved scenario, appended and flushed as records arrive. A run that stops (killed,
machine lost) leaves it behind; the next run with `resume` reads the records whose scenario ids
belong to the same study (same fingerprint) and solves only the rest. A torn last line is ignored.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import IO, Any

from solver.errors import InputError, Issue

Record = dict[str, Any]
FORMATS = (".csv", ".parquet")


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial.jsonl")


def check_output(out: Path) -> None:
    """Refuse an output we could not write at the end, before hours of solving."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise InputError([Issue("command line", "--out", f"{out}: unknown format {suffix or '(none)'!r}; "
                                f"allowed: {', '.join(FORMATS)}")])
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise InputError([Issue("command line", "--out", f"{out}: writing Parquet needs pyarrow "
                                "(pip install pyarrow); or write a .csv file")])
    if not out.parent.is_dir():
        raise InputError([Issue("command line", "--out", f"{out.parent}: no such directory")])


def read_partial(path: Path, fingerprint: str) -> list[Record]:
    """Records of a previous run of the same study; InputError if the file belongs to another."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError([Issue(str(path), "", f"cannot read partial results: {exc.strerror or exc}")]) from None
    header = _parse(lines[0]) if lines else None
    if not isinstance(header, dict) or "trilemma_study" not in header:
        raise InputError([Issue(str(path), "line 1", "not a trilemma partial results file")])
    if header["trilemma_study"] != fingerprint:
        raise InputError([Issue(str(path), "", "these partial results belong to another version of the study "
                                "(its study, problem or catalog files changed); remove the file or pass --force "
                                "to start over")])
    records = {}
    for line in lines[1:]:
        rec = _parse(line)
        if isinstance(rec, dict) and isinstance(rec.get("scenario"), int):
            records[rec["scenario"]] = rec
    return list(records.values())


def _parse(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


class PartialWriter:
    """Appends records to the partial file as they arrive, each line flushed and synced."""

    def __init__(self, path: Path, fingerprint: str, total: int, kept: list[Record]):
        """Start the file anew with the header and the records kept from a previous run (a rewrite
        also drops a torn last line)."""
        self.path = path
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"trilemma_study": fingerprint, "scenarios": total}) + "\n")
            for rec in kept:
                fh.write(json.dumps(rec) + "\n")
        os.replace(tmp, path)
        self._fh: IO[str] | None = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, records: list[Record]) -> None:
        assert self._fh is not None
        for rec in records:
            self._fh.write(json.dumps(rec) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def results_table(records: list[Record], labels: list[str]):
    """One row per scenario, by scenario id: scenario, name, axis values, then the results."""
    import pandas as pd

    from solver.study.run import RESULT_COLUMNS

    table = pd.DataFrame(records)
    columns = ["scenario", "name", *labels, *RESULT_COLUMNS]
    for col in columns:
        if col not in table:
            table[col] = None
    return table[columns].sort_values("scenario", kind="mergesort").reset_index(drop=True)


def write_table(table, out: Path) -> None:
    if out.suffix.lower() == ".parquet":
        table.to_parquet(out, index=False)
    else:
        table.to_csv(out, index=False)
