"""Import every command module so that it registers on `app`."""

from solver.cli import schema_cmd  # noqa: F401
