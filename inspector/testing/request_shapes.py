"""The Messages API's request shape as a JSON Schema, and hypothesis strategies built from it.

``SPEC`` is the request shape the gateway accepts, written from the API's own types
(MessageCreateParams and the *_param block types; /work/shared/reference/protocols.md §1), with
the gateway's two deliberate leniencies: an optional field may be ``null``, and a field or
block type the API adds later passes as long as it is well-formed (objects with a string
``type``). It is the *oracle* the fuzz tests judge ``parse_request`` by — never used by it.

For fuzzing through the gateway (``import`` from ``inspector.testing.request_shapes``):

* ``valid_requests()`` — requests the spec accepts, generated from ``SPEC`` itself (``from_spec``
  interprets the JSON Schema subset it is written in; hypothesis-jsonschema no longer runs on
  current hypothesis);
* ``mutated_requests()`` — a valid request with one change somewhere (a value replaced by
  any JSON, a key removed or added): mostly malformed, sometimes still valid;
* ``spec_problems(body)`` — the dotted paths the spec finds wrong (empty: valid).
"""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import strategies as st

__all__ = ["SPEC", "from_spec", "mutated_requests", "names_a_problem", "spec_problems", "valid_requests"]

_STR = {"type": "string"}
_KNOWN_BLOCKS = ["text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"]


def _null_or(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _block(kind: str, required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": ["type", *required],
            "properties": {"type": {"const": kind}, **props}}


_SOURCE = {"anyOf": [
    {"type": "object", "required": ["type", "data"],
     "properties": {"type": {"enum": ["base64", "text"]}, "data": _STR, "media_type": _null_or(_STR)}},
    {"type": "object", "required": ["type", "url"], "properties": {"type": {"const": "url"}, "url": _STR}},
    {"type": "object", "required": ["type"],
     "properties": {"type": {"type": "string", "not": {"enum": ["base64", "text", "url"]}}}},
]}

_INNER = {"anyOf": [
    _block("text", ["text"], text=_STR),
    _block("image", ["source"], source=_SOURCE),
    _block("document", ["source"], source=_SOURCE, title=_null_or(_STR)),
    _block("tool_reference", ["tool_name"], tool_name=_STR),
    {"type": "object", "required": ["type"],
     "properties": {"type": {"type": "string", "minLength": 1,
                             "not": {"enum": ["text", "image", "document", "tool_result", "tool_use", "thinking",
                                              "redacted_thinking", "tool_reference"]}}}},
]}

_BLOCK = {"anyOf": [
    _block("text", ["text"], text=_STR),
    _block("image", ["source"], source=_SOURCE),
    _block("document", ["source"], source=_SOURCE, title=_null_or(_STR)),
    _block("tool_use", ["id", "name"], id=_STR, name=_STR, input=_null_or({"type": "object"})),
    _block("tool_result", ["tool_use_id"], tool_use_id=_STR, is_error=_null_or({"type": "boolean"}),
           content={"anyOf": [_STR, {"type": "null"}, {"type": "array", "items": _INNER}]}),
    _block("thinking", ["thinking"], thinking=_STR, signature=_null_or(_STR)),
    _block("redacted_thinking", ["data"], data=_STR),
    {"type": "object", "required": ["type"],
     "properties": {"type": {"type": "string", "minLength": 1, "not": {"enum": _KNOWN_BLOCKS}}}},
]}

_TOOL = {"anyOf": [
    {"type": "object", "required": ["name", "input_schema"],
     "properties": {"name": {"type": "string", "minLength": 1}, "type": {"enum": ["custom", None]},
                    "description": _null_or(_STR), "input_schema": {"type": "object"},
                    "defer_loading": _null_or({"type": "boolean"})}},
    {"type": "object", "required": ["name", "type"],
     "properties": {"name": {"type": "string", "minLength": 1},
                    "type": {"type": "string", "not": {"const": "custom"}}}},
]}

SPEC: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["model", "messages", "max_tokens"],  # count_tokens takes no max_tokens; /v1/messages must
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "max_tokens": {"type": "integer", "minimum": 1},
        "messages": {"type": "array", "items": {
            "type": "object", "required": ["role", "content"],
            "properties": {"role": {"enum": ["user", "assistant", "system"]},
                           "content": {"anyOf": [_STR, {"type": "array", "items": _BLOCK}]}}}},
        "system": _null_or({"anyOf": [_STR, {"type": "array", "items": _BLOCK}]}),
        "stream": _null_or({"type": "boolean"}),
        "temperature": _null_or({"type": "number"}),
        "top_p": _null_or({"type": "number"}),
        "top_k": _null_or({"type": "integer", "minimum": 0}),
        "stop_sequences": _null_or({"type": "array", "items": _STR}),
        "metadata": _null_or({"type": "object", "properties": {"user_id": _null_or(_STR)}}),
        "tools": _null_or({"type": "array", "items": _TOOL}),
        "tool_choice": _null_or({"anyOf": [
            {"type": "object", "required": ["type"],
             "properties": {"type": {"enum": ["auto", "any", "none"]},
                            "disable_parallel_tool_use": _null_or({"type": "boolean"})}},
            {"type": "object", "required": ["type", "name"],
             "properties": {"type": {"const": "tool"}, "name": {"type": "string", "minLength": 1},
                            "disable_parallel_tool_use": _null_or({"type": "boolean"})}},
        ]}),
        "thinking": _null_or({"anyOf": [
            {"type": "object", "required": ["type", "budget_tokens"],
             "properties": {"type": {"const": "enabled"}, "budget_tokens": {"type": "integer", "minimum": 0}}},
            {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["disabled", "adaptive"]}}},
        ]}),
        "output_config": _null_or({"type": "object"}),
        "context_management": _null_or({"type": "object"}),
    },
}

# JSON's integers are Python ints (not 1.0, not True): the gateway passes them to backends as they are.
_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)
_VALIDATOR = _Validator(SPEC)


def _paths(error: jsonschema.ValidationError) -> set[str]:
    path = ".".join(str(p) for p in error.absolute_path)
    found = set()
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        found |= {f"{path}.{k}".lstrip(".") for k in missing}
    else:
        found.add(path)
    for sub in error.context or ():
        found |= _paths(sub)
    return found


def spec_problems(body: Any) -> set[str]:
    """Dotted paths (``messages.0.content.1.source``) of what the spec finds wrong; empty when valid."""
    problems: set[str] = set()
    for error in _VALIDATOR.iter_errors(body):
        problems |= _paths(error)
    return problems


def names_a_problem(message: str, problems: set[str]) -> bool:
    """Does an ``InvalidRequest`` message (``PATH: what is wrong``) name one of the spec's problems?"""
    if "" in problems:  # the body itself
        return message.startswith("request body")
    named = message.split(":", 1)[0]
    return any(p == named or p.startswith(named + ".") or named.startswith(p + ".") for p in problems)


_SCALARS = (st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=8) | st.sampled_from(["text", "image", "tool_use", "base64", "url", "user"]))
_ANY_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.sampled_from(["type", "text", "source", "data", "x"]), inner, max_size=3),
                         max_leaves=6)


def from_spec(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values ``schema`` accepts, for the JSON Schema subset ``SPEC`` is written in."""
    if "anyOf" in schema:
        return st.one_of([from_spec(s) for s in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        if not props:
            return st.dictionaries(st.text(max_size=5), _SCALARS, max_size=3)
        required = {k: from_spec(props[k]) for k in schema.get("required", [])}
        optional = {k: from_spec(v) for k, v in props.items() if k not in required}
        extra = st.fixed_dictionaries({}, optional={"x_new_field": _SCALARS})  # fields the API adds later
        return st.builds(lambda a, b: {**b, **a}, st.fixed_dictionaries(required, optional=optional), extra)
    if kind == "array":
        return st.lists(from_spec(schema["items"]), max_size=3)
    if kind == "string":
        text = st.text(min_size=schema.get("minLength", 0), max_size=12)
        excluded = schema.get("not", {})
        banned = set(excluded.get("enum", [])) | ({excluded["const"]} if "const" in excluded else set())
        return text.filter(lambda t: t not in banned) if banned else text
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), 2**31)
    if kind == "number":
        return st.integers(-10, 10) | st.floats(-2, 2, allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    raise ValueError(f"from_spec does not know {schema}")


def valid_requests() -> st.SearchStrategy[dict[str, Any]]:
    """Requests the Messages API's shape (``SPEC``) accepts."""
    return from_spec(SPEC)


def _nodes(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _nodes(v, (*path, i))
    return out


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _delete(value: Any, path: tuple) -> Any:
    if len(path) == 1:
        return {k: v for k, v in value.items() if k != path[0]} if isinstance(value, dict) \
            else [v for i, v in enumerate(value) if i != path[0]]
    head = path[0]
    if isinstance(value, dict):
        return {**value, head: _delete(value[head], path[1:])}
    copy = list(value)
    copy[head] = _delete(copy[head], path[1:])
    return copy


@st.composite
def mutated_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request with one thing changed: a value replaced by any JSON, a key removed, or one added."""
    body = draw(valid_requests())
    path = draw(st.sampled_from(_nodes(body)))
    how = draw(st.sampled_from(["replace", "delete", "add"]))
    if how == "delete" and path:
        return _delete(body, path)
    if how == "add":
        target = body
        for p in path:
            target = target[p]
        if isinstance(target, dict):
            return _replace(body, path, {**target, draw(st.sampled_from(["type", "source", "text", "zz"])):
                                         draw(_ANY_JSON)})
    return _replace(body, path, draw(_ANY_JSON))
