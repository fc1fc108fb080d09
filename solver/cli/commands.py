"""Import every command module so that it registers on `app`."""

from solver.cli import catalog_cmd, schema_cmd, solve_cmd, sweep_cmd  # noqa: F401
from solver.cli import estimate_cmd, validate_cmd  # noqa: F401
