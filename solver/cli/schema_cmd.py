"""`trilemma schema problem|catalog`: JSON Schema for editor completion."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from solver.cli import app


@app.command("schema")
def schema(
    what: Annotated[str, typer.Argument(help="problem or catalog")] = "problem",
) -> None:
    """Print the JSON Schema of a problem file or a catalog file."""
    from solver.catalog.schema import CatalogFile
    from solver.field_docs import schema_with_field_docs
    from solver.problem import Problem

    kinds: dict[str, type] = {"problem": Problem, "catalog": CatalogFile}
    if what not in kinds:
        typer.echo(f"schema: unknown kind {what!r}; allowed: {', '.join(kinds)}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(schema_with_field_docs(kinds[what]), indent=2))


