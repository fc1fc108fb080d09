"""Import every command module so that it registers on `app`."""

from solver.cli import catalog_cmd, catalog_prices_cmd, estimate_cmd, schema_cmd, solve_cmd, sweep_cmd, validate_cmd  # noqa: F401,E501
