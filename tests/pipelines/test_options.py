"""`pipelines.options.Options`: the one declaration of the recognition options and their validation."""

from __future__ import annotations

import jsonschema
import pytest

from pipelines.errors import OptionsError
from pipelines.options import OPTION_NAMES, LightPass, Mode, Options, parse_options, stored_options


def test_loose_values_are_converted_like_form_fields() -> None:
    values = {"mode": "dense", "budget": " 0.25 ", "top_k": "3", "light_pass": "keyframe", "threshold": ""}
    options = parse_options(values)
    assert options == Options(mode=Mode.DENSE, budget=0.25, top_k=3, light_pass=LightPass.KEYFRAME)
    assert options.to_dict()["mode"] == "dense" and options.to_dict()["threshold"] is None


def test_every_problem_is_named_in_one_message() -> None:
    with pytest.raises(OptionsError) as info:
        parse_options({"budget": "2", "top_k": "many", "mode": "sideways"})
    message = info.value.message
    assert info.value.code == "bad_options"
    assert "budget: Input should be less than or equal to 1 (got '2')" in message
    assert "top_k:" in message and "mode:" in message


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"budget": 0}, "budget: Input should be greater than 0"),
        ({"max_selected": 0}, "max_selected"),
        ({"max_selected": 10**23}, "max_selected: Input should be less than or equal to 1000000"),
        ({"threshold": 1.5}, "threshold"),
        ({"top_k": 0}, "top_k"),
        ({"seconds_per_snippet": -1}, "seconds_per_snippet"),
        ({"mode": "uniform"}, "mode 'uniform' needs a budget or max_selected"),
        ({"light_pass": "sideways"}, "light_pass"),
        ({"colour": "red"}, "unknown option(s) colour"),
    ],
)
def test_bad_values_are_refused(values: dict[str, object], fragment: str) -> None:
    with pytest.raises(OptionsError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_options(values)


def test_the_json_schema_states_the_baseline_rule() -> None:
    """What reads the JSON Schema (the API's OpenAPI form) sees the rule the validator applies."""
    validator = jsonschema.Draft202012Validator(Options.model_json_schema())
    for mode in Mode:
        for count in ({}, {"budget": 0.5}, {"max_selected": 3}, {"budget": None}):
            values = {"mode": mode.value, **count}
            try:
                parse_options(values)
                valid = True
            except OptionsError:
                valid = False
            assert validator.is_valid(values) == valid, values


def test_defaults_are_one_policy() -> None:
    options = Options()
    assert options.gated and options.budget is None and options.max_selected is None and options.threshold is None


def test_stored_records_ignore_fields_of_other_versions() -> None:
    assert stored_options({"budget": 0.5, "retired_option": True}) == Options(budget=0.5)
    assert stored_options(None) == Options()
    assert set(Options().to_dict()) == set(OPTION_NAMES)
