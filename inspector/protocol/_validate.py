"""Tool arguments checked against the tool's ``input_schema``; unambiguous fixes applied.

Fixes (each one a ``repaired`` note): a number, integer or boolean sent as a string that
parses as one; a string field sent as an object or array (serialised); an object or array
field sent as a JSON string (parsed). Whatever still violates the schema — a missing
required key, a wrong type with no single reading — is an ``error`` note and the call is
sent as the model made it: Claude Code answers it with a tool error the model can act on.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from ._notes import Notes

__all__ = ["check_arguments"]


@functools.lru_cache(maxsize=256)
def _validator(schema_json: bytes) -> Any:
    from jsonschema import validators

    schema = orjson.loads(schema_json)
    cls = validators.validator_for(schema)
    return cls(schema)


def _excerpt(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= limit else text[:limit] + "…"


def _coerce(value: Any, expected: Any) -> tuple[bool, Any]:
    types = expected if isinstance(expected, list) else [expected]
    if isinstance(value, str):
        text = value.strip()
        if "integer" in types:
            try:
                return True, int(text)
            except ValueError:
                pass
        if "number" in types:
            try:
                return True, float(text) if any(c in text for c in ".eE") else int(text)
            except ValueError:
                pass
        if "boolean" in types and text.lower() in ("true", "false"):
            return True, text.lower() == "true"
        if ("object" in types or "array" in types) and text[:1] in ("{", "["):
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                return False, value
            if ("object" in types and isinstance(parsed, dict)) or ("array" in types and isinstance(parsed, list)):
                return True, parsed
    elif isinstance(value, (dict, list)) and "string" in types and not ({"object", "array"} & set(types)):
        return True, orjson.dumps(value).decode()
    return False, value


def check_arguments(name: str, args: dict[str, Any], schema: dict[str, Any] | None, notes: Notes,
                    *, fix: bool = True) -> dict[str, Any]:
    """``args`` fixed where unambiguous (``fix``); every fix and every remaining violation noted."""
    if not schema:
        return args
    props = schema.get("properties") or {}
    fixed = dict(args)
    for key, value in args.items() if fix else ():
        expected = (props.get(key) or {}).get("type")
        if expected is None:
            continue
        changed, new = _coerce(value, expected)
        if changed:
            fixed[key] = new
            notes.repaired(f"{name}: {key} sent as {type(value).__name__} {_excerpt(value)!r}, "
                           f"the schema wants {expected}: converted", rule="schema:type-coerced")
    try:
        validator = _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    except Exception:  # noqa: BLE001 - an odd schema must not break the stream
        return fixed
    for error in sorted(validator.iter_errors(fixed), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path) or "(arguments)"
        rule = "schema:missing-required" if error.validator == "required" else f"schema:{error.validator}"
        notes.error(f"{name}: {where}: {error.message}", rule=rule)
    return fixed
