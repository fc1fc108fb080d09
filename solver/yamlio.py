"""Reading user YAML files and turning pydantic errors into located, readable issues."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from solver.errors import Issue


def format_location(loc: tuple[Any, ...]) -> str:
    """('models', 3, 'num_kv_heads') -> 'models[3].num_kv_heads'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _finite(value: Any, loc: tuple[Any, ...], file: str) -> list[Issue]:
    """NaN and infinity are never valid input; YAML accepts `.nan` and `.inf`, we do not."""
    if isinstance(value, float) and not math.isfinite(value):
        return [Issue(file, format_location(loc), f"{value} is not a finite number")]
    if isinstance(value, dict):
        return [i for k, v in value.items() for i in _finite(v, (*loc, str(k)), file)]
    if isinstance(value, list):
        return [i for n, v in enumerate(value) for i in _finite(v, (*loc, n), file)]
    return []


def read_yaml_mapping(path: Path) -> tuple[dict[str, Any], list[Issue]]:
    """Load a YAML file whose top level must be a mapping; never raises for bad content."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return {}, [Issue(file, "", f"cannot read file: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {}, [Issue(file, "", "not a UTF-8 text file (is it binary?)")]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return {}, [Issue(file, where, f"malformed YAML: {problem}")]
    except Exception as exc:  # noqa: BLE001 - the YAML parser can raise odd errors on garbage
        return {}, [Issue(file, "", f"malformed YAML: {type(exc).__name__}")]
    if data is None:
        return {}, [Issue(file, "", "file is empty")]
    if not isinstance(data, dict):
        return {}, [Issue(file, "", f"top level must be a mapping, got {type(data).__name__}")]
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        return {}, [Issue(file, str(k), "keys must be strings") for k in bad_keys]
    return data, _finite(data, (), file)


def validation_issues(file: str, exc: ValidationError) -> list[Issue]:
    """One Issue per pydantic error, with its location and the allowed values where known."""
    issues = []
    for err in exc.errors(include_url=False):
        loc = format_location(tuple(p for p in err["loc"] if not _is_union_tag(p)))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "literal_error":
            expected = err.get("ctx", {}).get("expected")
            msg = f"got {err.get('input')!r}; allowed: {expected}"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif "input" in err and not isinstance(err["input"], (dict, list)):
            msg = f"{msg} (got {err['input']!r})"
        issues.append(Issue(file, loc, msg))
    return issues


def _is_union_tag(part: Any) -> bool:
    """Pydantic adds the union member's type name to locations; users never wrote it."""
    return isinstance(part, str) and (part.startswith("function-") or part in {
        "int", "float", "str", "bool", "list[...]", "dict[...]"} or "[" in part and part.endswith("]"))
