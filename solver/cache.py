"""A disk cache of validated catalogs and parsed data files, keyed by the content of the files they
came from, so a repeated run skips YAML parsing and validation.

    key = sha256(kind, format version, package version, code digest, (path, sha256(content)) per file)

The code digest covers the modules that define what a cached value is (for a catalog: its schema,
sanity checks and loader), so editing them invalidates old entries. Entries are pickles written
atomically (temporary file, then rename) under `cache_dir()`. The cache is an accelerator only:
any failure to read or write it (unwritable directory, corrupt or foreign entry) falls back to
building the value, and a value is stored only after it was built without error.

`TRILEMMA_CACHE_DIR` moves the cache; `TRILEMMA_NO_CACHE=1` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

FORMAT_VERSION = 1
_CODE_DIGESTS: dict[tuple[str, ...], str] = {}


def cache_dir() -> Path:
    """$TRILEMMA_CACHE_DIR, else $XDG_CACHE_HOME/trilemma, else ~/.cache/trilemma."""
    explicit = os.environ.get("TRILEMMA_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "trilemma"


def enabled() -> bool:
    return os.environ.get("TRILEMMA_NO_CACHE", "").strip().lower() not in ("1", "true", "yes")


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_digest(modules: Iterable[str]) -> str:
    """Digest of the source files of `modules` (dotted names inside this package)."""
    names = tuple(sorted(modules))
    if names not in _CODE_DIGESTS:
        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for name in names:
            parts = name.split(".")[1:]  # drop the package name
            h.update(name.encode())
            h.update((root.joinpath(*parts).with_suffix(".py")).read_bytes())
        _CODE_DIGESTS[names] = h.hexdigest()
    return _CODE_DIGESTS[names]


def cache_key(kind: str, files: Iterable[Path], code_modules: Iterable[str] = ()) -> str:
    """The entry name for a value of `kind` built from `files` by the code in `code_modules`."""
    from solver import __version__

    h = hashlib.sha256(f"{kind}\0{FORMAT_VERSION}\0{__version__}\0{code_digest(code_modules)}".encode())
    for f in files:
        h.update(b"\0" + str(f).encode() + b"\0" + _file_digest(Path(f)).encode())
    return f"{kind}-{h.hexdigest()[:40]}"


def cached(kind: str, files: Iterable[Path], build: Callable[[], T], code_modules: Iterable[str] = ()) -> T:
    """`build()`, or the value a previous call stored for the same files and code.

    Files that cannot be read are left to `build`, which reports them properly."""
    files = [Path(f) for f in files]
    if not enabled():
        return build()
    try:
        key = cache_key(kind, files, code_modules)
    except OSError:
        return build()
    path = cache_dir() / f"{key}.pickle"
    value = _read(path, key)
    if value is not None:
        return value
    value = build()
    _write(path, key, value)
    return value


def _read(path: Path, key: str) -> Any:
    try:
        with open(path, "rb") as fh:
            stored_key, value = pickle.load(fh)  # noqa: S301 - the user's own cache directory
    except Exception:  # noqa: BLE001 - missing, truncated, or written by other code: rebuild
        return None
    return value if stored_key == key else None


def _write(path: Path, key: str, value: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump((key, value), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except Exception:  # noqa: BLE001 - unwritable or full disk: the run goes on uncached
        return
