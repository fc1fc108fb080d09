"""Field descriptions come from the docstring under each attribute, read on demand (not at class build)."""

from __future__ import annotations

from solver.catalog.schema import Accelerator, CatalogFile, Strict
from solver.field_docs import field_docs, schema_with_field_docs
from solver.problem import Problem, Slo


def test_a_fields_docstring_is_its_description():
    assert field_docs(Slo)["tpot_ms"] == "Time per output token after the first."
    assert field_docs(Slo)["percentile"].startswith("The percentile (50 to 99.9) every SLO above refers to")


def test_inherited_fields_keep_the_base_class_docstring():
    # `source` is declared on Sourced, which Accelerator extends.
    assert "source" not in Accelerator.__dict__.get("__annotations__", {})
    assert field_docs(Accelerator)["source"] == "URL or document the values were read from."


def test_models_are_built_without_pydantic_reading_docstrings():
    assert not Strict.model_config.get("use_attribute_docstrings")
    assert Slo.model_fields["tpot_ms"].description is None


def test_the_json_schema_describes_nested_and_inherited_fields():
    problem = schema_with_field_docs(Problem)
    assert problem["$defs"]["Slo"]["properties"]["ttft_ms"]["description"] == (
        "Time to first token, arrival to first output token, including queueing.")
    catalog = schema_with_field_docs(CatalogFile)
    assert catalog["$defs"]["Accelerator"]["properties"]["source"]["description"] == (
        "URL or document the values were read from.")
