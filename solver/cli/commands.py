"""Import every command module so that it registers on `app`."""

from solver.cli import (  # noqa: F401
    catalog_cmd,
    catalog_prices_cmd,
    emit_cmd,
    estimate_cmd,
    schema_cmd,
    solve_cmd,
    study_cmd,
    sweep_cmd,
    validate_cmd,
)
