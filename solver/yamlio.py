"""Reading user YAML files and turning pydantic errors into located, readable issues."""

from __future__ import annotations

import difflib
import math
import re
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from solver.errors import Issue
from solver.field_docs import field_docs


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
    """NaN and infinity are never valid input; YAML accepts `.nan` and `.inf`, we do not.

    Strings that pydantic would parse into a non-finite float (`"inf"`, `"nan"`, `1e400`, which YAML
    reads as a string) are rejected too.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return [Issue(file, format_location(loc), f"{value} is not a finite number")]
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        try:
            number = float(value.strip())
        except ValueError:
            number = 0.0
        if not math.isfinite(number):
            return [Issue(file, format_location(loc), f"{value!r} is not a finite number")]
    if isinstance(value, dict):
        return [i for k, v in value.items() for i in _finite(v, (*loc, str(k)), file)]
    if isinstance(value, list):
        return [i for n, v in enumerate(value) for i in _finite(v, (*loc, n), file)]
    return []


_NUMBER = re.compile(r"^[-+]?(\d[\d_]*\.?\d*([eE][-+]?\d+)?|\.?(nan|inf|infinity))$", re.IGNORECASE)


class _DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: Any, first_line: int, mark: yaml.Mark):
        super().__init__()
        self.problem = f"key {key!r} appears twice (first on line {first_line}); YAML would silently keep the last"
        self.problem_mark = mark


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key repeated in one mapping instead of keeping the last value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise _DuplicateKeyError(key, seen[key], key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
            except TypeError:  # unhashable key: let SafeLoader report it
                break
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """`as_of: 2025-13-45` looks like a date to YAML; say where instead of a bare ValueError."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid date {node.value!r} ({exc}); write dates as YYYY-MM-DD", node.start_mark
            ) from None


    def get_single_node(self) -> yaml.Node | None:
        """Refuse documents whose aliases expand to more than MAX_EXPANDED_NODES values before
        building them: nine nested `*alias` lists of nine ("billion laughs") would otherwise expand
        to 387 million values while checking and validating the file."""
        node = super().get_single_node()
        if node is not None:
            size = _expanded_size(node)
            if size > MAX_EXPANDED_NODES:
                raise yaml.composer.ComposerError(
                    None, None, f"anchors and aliases expand to more than {MAX_EXPANDED_NODES:,} values; "
                    "write the repeated values out", node.start_mark)
        return node


MAX_FILE_BYTES = 10_000_000
"""Largest problem or catalog file read at all (checked before reading: instant)."""

MAX_EXPANDED_NODES = 200_000
"""Largest number of values a YAML file may expand to (each built-in catalog file has fewer than 6,000;
a 2,000-workload problem about 60,000)."""


def _count_values(text: str, count_items: str | None = None) -> tuple[int, int]:
    """(values written in the file without expanding aliases, items of the top-level list
    `count_items`), counted with the fast event parser and stopping just past the value limit: a large
    plain file is refused in well under a second, before the slower checking loader builds it.
    Malformed text counts as (0, 0) here; the loader reports it."""
    parser = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    n = items = depth = 0
    top_key: object = None
    expect_key = False
    try:
        for event in yaml.parse(text, Loader=parser):
            if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, *starts)):
                n += 1
                if n > MAX_EXPANDED_NODES:
                    break
                if depth == 1:  # the top-level mapping: keys and values alternate
                    if expect_key:
                        top_key = event.value if isinstance(event, yaml.ScalarEvent) else None
                    expect_key = not expect_key
                elif depth == 2 and top_key is not None and top_key == count_items:
                    items += 1
            if isinstance(event, starts):
                depth += 1
                if depth == 1:
                    expect_key = True
            elif isinstance(event, ends):
                depth -= 1
    except yaml.YAMLError:
        return 0, 0
    return n, items


def _expanded_size(root: yaml.Node) -> int:
    """Number of values the node graph expands to, counting every alias use; linear in the number of
    distinct nodes (memoised), stops early once over the limit. Recursive aliases count once."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            return 1
        in_progress.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
                if total > MAX_EXPANDED_NODES:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > MAX_EXPANDED_NODES:
                    break
        in_progress.discard(key)
        sizes[key] = total
        return total

    return size(root)


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)


def read_yaml_mapping(path: Path, max_items: tuple[str, int] | None = None) -> tuple[dict[str, Any], list[Issue]]:
    """Load a YAML file whose top level must be a mapping; never raises for bad content.

    `max_items` = (key, limit): the top-level list `key` may hold at most `limit` items, checked
    before the file is built (a 12,000-workload problem is refused in half a second, not 18)."""
    file = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            return {}, [Issue(file, "", f"file is {size:,} bytes; at most {MAX_FILE_BYTES:,} (a problem with the "
                                        "schema's maximum of 2,000 workloads is about 340 kB): split it")]
        raw = Path(path).read_bytes()
    except OSError as exc:
        return {}, [Issue(file, "", f"cannot read file: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {}, [Issue(file, "", "not a UTF-8 text file (is it binary?)")]
    values, items = _count_values(text, max_items[0] if max_items else None)
    if max_items and items > max_items[1]:
        key, limit = max_items
        return {}, [Issue(file, key, f"{items:,} {key}; at most {limit:,}")]
    if values > MAX_EXPANDED_NODES:
        return {}, [Issue(file, "", f"file holds more than {MAX_EXPANDED_NODES:,} values (keys, values and lists); "
                                    f"at most {MAX_EXPANDED_NODES:,}: a problem with the schema's maximum of 2,000 "
                                    "workloads has about 60,000")]
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
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
    try:
        return data, _finite(data, (), file)
    except RecursionError:
        return {}, [Issue(file, "", "an anchor refers to itself (recursive `*alias`); write the values out")]


def validation_issues(file: str, exc: ValidationError, model: type[BaseModel] | None = None) -> list[Issue]:
    """One Issue per pydantic error, with its location and the allowed values where known.

    With `model` (the root schema that was validated) unknown keys get the nearest allowed key and
    missing fields their description. When a value fails every member of a union (`input_tokens: int
    | Lengths`), only the errors of the member that matches the value's shape are kept.
    """
    errors = _drop_other_union_members(exc.errors(include_url=False))
    issues = []
    for err in errors:
        raw_loc = tuple(err["loc"])
        # The last part is the user's key unless the error is about a union member's whole value.
        last_is_key = err["type"] not in ("model_type", "dict_type", "model_attributes_type")
        loc = format_location(tuple(
            p for n, p in enumerate(raw_loc) if not _is_union_tag(p, last=last_is_key and n == len(raw_loc) - 1)
        ))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
            owner = _model_at(model, raw_loc[:-1])
            fields = list(owner.model_fields) if owner else None
            if fields:
                key = str(raw_loc[-1])
                close = difflib.get_close_matches(key, list(fields), n=3, cutoff=0.6)
                if close:
                    msg += f" (did you mean: {', '.join(close)}?)"
                else:
                    msg += f"; allowed: {', '.join(fields)}"
        elif err["type"] == "literal_error":
            expected = err.get("ctx", {}).get("expected")
            msg = f"got {err.get('input')!r}; allowed: {expected}"
        elif err["type"] == "missing":
            msg = "required field is missing"
            owner = _model_at(model, raw_loc[:-1])
            doc = field_docs(owner).get(str(raw_loc[-1])) if owner else None
            if doc:
                msg += f" ({doc.splitlines()[0].rstrip('.')})"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == ID_PATTERN_TEXT:
            msg = (f"ids are lowercase-kebab: a-z, 0-9, '.' and '-', starting with a letter or digit "
                   f"(got {err.get('input')!r})")
        elif err["type"] in ("model_type", "dict_type", "model_attributes_type"):
            msg = f"should be a mapping of keys (got {err.get('input')!r})"
        elif err["type"].startswith(("date_", "datetime_")):
            msg = f"{msg}; write dates as YYYY-MM-DD (got {err.get('input')!r})"
        elif "input" in err and not isinstance(err["input"], (dict, list)):
            msg = f"{msg} (got {err['input']!r})"
        issues.append(Issue(file, loc, msg))
    return issues


ID_PATTERN_TEXT = r"^[a-z0-9][a-z0-9.\-]*$"
"""Catalog id pattern (solver.catalog.schema.ID_PATTERN), repeated here to keep yamlio schema-free."""

_SCALAR_TAGS = ("int", "float", "str", "bool")


def _is_scalar_tag(tag: Any) -> bool:
    return isinstance(tag, str) and (tag in _SCALAR_TAGS or tag.startswith(("constrained-", "strict-")))


def _drop_other_union_members(errors: list[Any]) -> list[Any]:
    """For a value that failed a union, keep the errors of the member matching the value's shape:
    a mapping is reported against the model member, a scalar against the scalar member."""
    by_loc: dict[tuple[Any, ...], list[Any]] = {}

    def key(err: Any) -> tuple[Any, ...]:
        return tuple(err["loc"][: _first_tag_index(err["loc"])])

    for err in errors:
        by_loc.setdefault(key(err), []).append(err)
    keep: list[Any] = []
    for err in errors:
        group = by_loc[key(err)]
        if len({_tag_of(e["loc"]) for e in group}) > 1:
            scalar = [e for e in group if _is_scalar_tag(_tag_of(e["loc"]))]
            structured = [e for e in group if not _is_scalar_tag(_tag_of(e["loc"]))]
            mapping_failed = [e for e in structured if e["type"] in ("model_type", "dict_type")]
            if err in scalar and structured and not mapping_failed:
                continue  # the value is a mapping: the scalar member is not what the user meant
            if err in mapping_failed and scalar:
                continue  # the value is a scalar: report the scalar member's error only
        keep.append(err)
    return keep


def _first_tag_index(loc: tuple[Any, ...]) -> int:
    for n, part in enumerate(loc):
        if _is_union_tag(part):
            return n
    return len(loc)


def _tag_of(loc: tuple[Any, ...]) -> Any:
    n = _first_tag_index(loc)
    return loc[n] if n < len(loc) else None


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model at `loc` inside `model` (None when it cannot be determined)."""
    if model is None:
        return None
    candidates: list[Any] = [model]
    for part in loc:
        flat = _flatten_annotations(candidates)
        if isinstance(part, int):
            candidates = [a for t in flat for a in _item_types(t)]
            continue
        models = [t for t in flat if isinstance(t, type) and issubclass(t, BaseModel)]
        matching = [m for m in models if part in m.model_fields]
        if matching:
            candidates = [m.model_fields[part].annotation for m in matching]
        elif _is_union_tag(part):
            named = [m for m in models if m.__name__ in str(part)]
            candidates = named or flat
        else:
            return None
    models = [t for t in _flatten_annotations(candidates) if isinstance(t, type) and issubclass(t, BaseModel)]
    if len(models) != 1:
        return None
    return models[0]


def _flatten_annotations(annotations: list[Any]) -> list[Any]:
    out: list[Any] = []
    for a in annotations:
        if get_origin(a) in (Union, types.UnionType):
            out += _flatten_annotations(list(get_args(a)))
        else:
            out.append(a)
    return out


def _item_types(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (list, tuple, set, frozenset):
        return list(get_args(annotation)[:1])
    return []


def _is_union_tag(part: Any, last: bool = False) -> bool:
    """Pydantic adds the union member's type name to locations; users never wrote it."""
    if not isinstance(part, str):
        return False
    if part.startswith(("function-", "constrained-", "strict-")) or part in {
            "int", "float", "str", "bool", "list[...]", "dict[...]"}:
        return True
    if "[" in part and part.endswith("]"):
        return True
    # A model class name (CamelCase) in the middle of a location; a user's unknown key stays.
    return not last and part[:1].isupper() and part.isidentifier() and not part.isupper()
