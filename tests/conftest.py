"""Shared test helpers: run the CLI exactly as a user would, and find the fixture files."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (CI must not pass or fail by chance); a property
# is explored further by raising max_examples locally.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.load_profile("repeatable")

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True, scope="session")
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """Tests fill a cache of their own, never the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TRILEMMA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    # Tables are read as a pipe reads them (full width); parallel test workers inherit a COLUMNS.
    mp.delenv("COLUMNS", raising=False)
    yield
    mp.undo()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """`cli("catalog", "validate", path)` -> CliResult, through the same error handling as `main`.

    Uses `solver.cli.run` rather than typer's CliRunner, because CliRunner bypasses the wrapper that
    turns typed errors into `file: location: message` lines and exit codes.
    """
    from solver.cli import run

    def invoke(*args: object) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return invoke


@pytest.fixture
def fixture_catalog(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Use the small stand-in catalog in tests/fixtures/builtin as the built-in catalogs."""
    path = FIXTURES / "builtin"
    monkeypatch.setenv("TRILEMMA_CATALOG_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/fixtures/tiny plus the real kernel fits (the performance model needs them): a small
    catalog that solves fast."""
    path = tmp_path_factory.mktemp("tiny-catalog")
    for f in (FIXTURES / "tiny").glob("*.yaml"):
        shutil.copy(f, path / f.name)
    shutil.copy(ROOT / "catalogs" / "kernel_fits.yaml", path / "kernel_fits.yaml")
    return path


@pytest.fixture
def tiny(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Use the tiny catalog as the built-in catalogs."""
    monkeypatch.setenv("TRILEMMA_CATALOG_DIR", str(tiny_dir))
    return tiny_dir
