"""The upload form: its OpenAPI schema, generated from `Options`, and how its text values are read.

One field per option, with the option's type and range; an empty field means "not given" (an HTML form
sends its empty inputs); no field outside `Options` (it refuses unknown fields); `Options`'s rule that the
baselines need a count; and a file that is not empty. A value is read as its text or as JSON reads that text
(how OpenAPI clients write typed form fields: ``0.25``, ``true``), nothing looser, so what the schema calls
invalid the API refuses: ``yes`` is no boolean, ``.5`` and ``1_000`` are no numbers, `` gated`` is no mode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipelines.errors import OptionsError
from pipelines.options import Options, parse_options

# JSON's spellings of the typed values (RFC 8259); an option's text must be one of them.
_SPELLING = {
    "integer": re.compile(r"-?(?:0|[1-9][0-9]*)"),
    "number": re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"),
    "boolean": re.compile(r"true|false"),
}

_AS_JSON = {"integer": "an integer as JSON writes it (12)", "number": "a number as JSON writes it (0.25)",
            "boolean": "true or false"}


def option_fields() -> dict[str, dict[str, Any]]:
    """Each option's JSON Schema as a form field holds it: the given value's schema (``null`` is "not given",
    written as an empty field), references resolved, titles dropped."""
    schema = Options.model_json_schema()
    definitions = schema.get("$defs", {})
    fields = {}
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        prop = {**(branches[0] if branches else {}), **prop}
        if "$ref" in prop:
            prop = {**definitions[prop.pop("$ref").rsplit("/", 1)[-1]], **prop}
        fields[name] = {k: v for k, v in prop.items() if k != "title" and not (k == "default" and v is None)}
    return fields


_TYPES = {name: prop.get("type") for name, prop in option_fields().items()}


def options_from(values: Mapping[str, str]) -> Options:
    """Options from form fields and query strings, read as the form's schema says; a problem is `OptionsError`
    (400 ``bad_options``) naming every bad field."""
    problems = []
    for name, text in values.items():
        if text == "":
            continue
        kind = _TYPES.get(name)
        spelling = _SPELLING.get(kind or "")
        if spelling is not None and not spelling.fullmatch(text):
            problems.append(f"{name}: {text!r} is not {_AS_JSON[kind or '']}")
        elif spelling is None and text != text.strip():
            problems.append(f"{name}: a value may not have spaces around it (got {text!r})")
    if problems:
        raise OptionsError("; ".join(problems))
    return parse_options({name: text for name, text in values.items() if text != ""})


def upload_openapi() -> dict[str, Any]:
    """The multipart body of an upload in OpenAPI (the ``openapi_extra`` of the upload routes)."""
    schema = Options.model_json_schema()
    properties: dict[str, Any] = {
        "file": {"type": "string", "format": "binary", "minLength": 1,
                 "description": "The video (any container vidgate accepts; decided by its content, not its name)."},
        **{name: _or_empty(prop) for name, prop in option_fields().items()},
    }
    defaults = Options().to_dict()
    rules: dict[str, Any] = {k: [_empty_is_default(branch, defaults) for branch in schema[k]]
                             for k in ("allOf", "anyOf", "oneOf") if k in schema}
    body: dict[str, Any] = {"type": "object", "required": ["file"], "properties": properties,
                            "additionalProperties": schema.get("additionalProperties", True), **rules}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": body}}}}


def _or_empty(prop: dict[str, Any]) -> dict[str, Any]:
    """A field's schema that also admits the empty value, without a combinator: an enum gains ``""``; a typed
    value is that type or a string of length 0 (``maxLength`` applies to strings only)."""
    if "enum" in prop:
        return {**prop, "enum": [*prop["enum"], ""]}
    if prop.get("type") in _SPELLING:
        return {**prop, "type": [prop["type"], "string"], "maxLength": 0}
    return prop


def _empty_is_default(branch: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """A rule's branch on the form: an empty field is the option's default, so an enum that holds the default
    holds ``""`` too (``mode`` empty is ``gated``, which needs no count)."""
    properties = {name: {**prop, "enum": [*prop["enum"], ""]} if defaults.get(name) in prop.get("enum", ()) else prop
                  for name, prop in branch.get("properties", {}).items()}
    return {**branch, "properties": properties} if properties else branch
