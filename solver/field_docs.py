"""Attribute docstrings of the catalog and problem models, read when a message or a schema needs them.

Every field of a model is documented by the string literal under it:

    class Slo(Strict):
        ttft_ms: float | None = None
        \"\"\"Time to first token, ms.\"\"\"

pydantic's `use_attribute_docstrings` reads these while it builds each class; on Python < 3.13 it walks
the interpreter's frames and re-tokenizes each class's source, ~0.12 s for our models on every start.
Only two things need the text (the "required field is missing" message and `trilemma schema`), so it is
read here instead: each module's source is parsed once, on first use.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import sys
from typing import Any

from pydantic import BaseModel


@functools.cache
def _module_classes(module_name: str) -> dict[str, ast.ClassDef]:
    """Top-level class definitions of a module, by name ({} when its source cannot be read)."""
    try:
        source = inspect.getsource(sys.modules[module_name])
    except (KeyError, OSError, TypeError):
        return {}
    return {node.name: node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}


def _own_docs(cls: type) -> dict[str, str]:
    """Docstrings of the annotated attributes defined in `cls`'s own body."""
    node = _module_classes(cls.__module__).get(cls.__name__)
    if node is None:
        return {}
    docs = {}
    for before, after in itertools.pairwise(node.body):
        if (isinstance(before, ast.AnnAssign) and isinstance(before.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[before.target.id] = inspect.cleandoc(after.value.value)
    return docs


@functools.cache
def field_docs(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> docstring for `model`, inherited fields included (a subclass's own text wins).

    A field given `Field(description=...)` keeps that description.
    """
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls is not BaseModel:
            docs.update(_own_docs(cls))
    for name, info in model.model_fields.items():
        if info.description:
            docs[name] = info.description
    return {name: text for name, text in docs.items() if name in model.model_fields}


def schema_with_field_docs(model: type[BaseModel]) -> dict[str, Any]:
    """`model.model_json_schema()` with each property's docstring as its `description`."""
    schema = model.model_json_schema()
    by_name = {cls.__name__: cls for cls in _models_reachable_from(model)}
    _describe(schema, model)
    for def_name, definition in schema.get("$defs", {}).items():
        if def_name in by_name:
            _describe(definition, by_name[def_name])
    return schema


def _describe(definition: dict[str, Any], model: type[BaseModel]) -> None:
    docs = field_docs(model)
    for name, prop in definition.get("properties", {}).items():
        if name in docs and "description" not in prop:
            prop["description"] = docs[name]


def _models_reachable_from(model: type[BaseModel]) -> list[type[BaseModel]]:
    """Every model class that appears in `model`'s field annotations, transitively, `model` first."""
    seen: list[type[BaseModel]] = []
    todo: list[Any] = [model]
    while todo:
        item = todo.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            if item in seen:
                continue
            seen.append(item)
            todo.extend(info.annotation for info in item.model_fields.values())
        else:
            todo.extend(getattr(item, "__args__", ()))
    return seen
