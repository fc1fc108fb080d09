"""`trilemma emit RESULT.json DIR`: the deployment folder of a saved `solve --json` result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from solver.catalog.loader import Catalog, load_catalog
from solver.cli import app
from solver.cli.catalog_cmd import CatalogFiles

if TYPE_CHECKING:
    from solver.deploy.plan_io import DeployPlan

Timezone = Annotated[str, typer.Option("--timezone", help="IANA time zone of the plan's hours (KEDA cron).")]


def write_folder(catalog: Catalog, plan: DeployPlan, out_dir: Path, timezone: str) -> None:
    """Emit the folder and say where it is (stderr: stdout may carry the solve's JSON)."""
    from solver.deploy.emit import emit_plan

    emitted = emit_plan(catalog, plan, out_dir, timezone=timezone)
    print(f"wrote {len(emitted.files)} files to {emitted.root} (see {emitted.root / 'README.md'})", file=sys.stderr)


def check_timezone(timezone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from solver.errors import InputError, Issue

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError([Issue("command line", "--timezone",
                                f"got {timezone!r}; allowed: an IANA time zone such as UTC or America/New_York")]
                         ) from None


@app.command("emit")
def emit_command(
    result_file: Annotated[Path, typer.Argument(help="What `trilemma solve --json` printed, saved to a file.")],
    out_dir: Annotated[Path, typer.Argument(help="New or empty directory to write the deployment folder to.")],
    timezone: Timezone = "UTC",
    catalog: CatalogFiles = None,
) -> None:
    """Write Kubernetes, SkyPilot and Compose files, verify.sh and a README for a solved plan."""
    check_timezone(timezone)
    cat = load_catalog(catalog or [])
    from solver.deploy.plan_io import read_result

    write_folder(cat, read_result(result_file), out_dir, timezone)
