"""What the agent reads about the tools, kept small, and argument errors in this project's words.

Pydantic's JSON schemas are verbose for an agent that pays for them on every request: a `title` on every
property, `anyOf [X, null]` for every optional argument, `default: null`, and `$defs` referenced once. The
schemas listed by `tools/list` are compacted here (the arguments are still validated by the SDK against the
full model: compaction changes only what is shown). Output schemas keep `null` (structured results carry it)
as `"type": [X, "null"]`.

A call with arguments the tool does not take, or of the wrong type, gets a one-line error naming the argument
and what it must be, instead of pydantic's multi-line report with its documentation URLs.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

_DROP = frozenset({"title"})


def compact_input(schema: dict[str, Any]) -> dict[str, Any]:
    """An input schema as the agent needs it: no titles, optional arguments as their plain type, no null
    defaults, definitions inlined."""
    defs = schema.get("$defs", {})
    out = _walk(schema, defs, nullable=False)
    out.pop("$defs", None)
    return out


def compact_output(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """An output schema without titles; definitions used once are inlined, the others stay in `$defs`."""
    if schema is None:
        return None
    defs = schema.get("$defs", {})
    uses: dict[str, int] = {}
    _count_refs(schema, uses)
    inline = {k: v for k, v in defs.items() if uses.get(k, 0) <= 1}
    out = _walk(schema, inline, nullable=True)
    kept = {k: _walk(v, inline, nullable=True) for k, v in defs.items() if k not in inline}
    out.pop("$defs", None)
    if kept:
        out["$defs"] = kept
    return out


def _count_refs(node: Any, uses: dict[str, int]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            uses[name] = uses.get(name, 0) + 1
        for v in node.values():
            _count_refs(v, uses)
    elif isinstance(node, list):
        for v in node:
            _count_refs(v, uses)


def _walk(node: Any, defs: dict[str, Any], *, nullable: bool, in_props: bool = False) -> Any:
    if isinstance(node, list):
        return [_walk(v, defs, nullable=nullable) for v in node]
    if not isinstance(node, dict):
        return node
    if in_props:  # keys are property names (a property may well be called "title")
        return {k: _walk(v, defs, nullable=nullable) for k, v in node.items()}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in defs:
        target = defs[ref.rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k in _DROP and isinstance(v, str):
            continue
        if k == "$defs" and not nullable:
            continue
        out[k] = _walk(v, defs, nullable=nullable, in_props=k in ("properties", "$defs"))
    any_of = out.get("anyOf")
    if isinstance(any_of, list) and {"type": "null"} in any_of:
        rest = [x for x in any_of if x != {"type": "null"}]
        if len(rest) == 1:
            del out["anyOf"]
            only = rest[0]
            if nullable:
                if isinstance(only.get("type"), str) and set(only) <= {"type", "items", "enum", "additionalProperties",
                                                                       "format"}:
                    out = {**only, **out, "type": [only["type"], "null"]}
                    if "enum" in only:  # null is one of the values too
                        out["enum"] = [*only["enum"], None]
                else:
                    out["anyOf"] = [only, {"type": "null"}]
            else:
                out = {**only, **out}
    if "default" in out and out["default"] is None:
        del out["default"]
    return out


# -- argument errors ---------------------------------------------------------------------------------------

_EXPECTED = {
    "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
    "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text", "list_type": "a list", "dict_type": "an object", "model_type": "an object",
    "string_unicode": "valid Unicode text (no lone UTF-16 surrogate)",
}


def argument_error(tool: str, err: ValidationError, schema: dict[str, Any] | None = None) -> str:
    """One line: which argument is wrong and what it must be (and, for a missing one, what the tool takes)."""
    parts = []
    for e in err.errors(include_url=False):
        loc = [str(x) for x in e.get("loc", ()) if not str(x).startswith(("function-", "nullable"))]
        name = loc[0] if loc else "arguments"
        what = f"{name}[{loc[1]}]" if len(loc) > 1 and loc[1].isdigit() else name
        kind = e.get("type", "")
        given = e.get("input")
        if kind == "missing":
            parts.append(f"{what} is required")
            continue
        if kind == "literal_error":
            expected = str((e.get("ctx") or {}).get("expected", "")).replace("'", "")
            need = f"one of {expected}"
        elif kind in _EXPECTED:
            need = _EXPECTED[kind]
        else:
            need = str(e.get("msg", "valid")).removeprefix("Input should be ").removeprefix("Value error, ")
        shown = repr(given) if isinstance(given, (str, int, float, bool)) or given is None else type(given).__name__
        if len(shown) > 60:
            shown = shown[:57] + "…"
        parts.append(f"{what} must be {need}, not {shown}")
    line = f"{tool}: " + "; ".join(dict.fromkeys(parts))
    if schema is not None and any(p.endswith(" is required") for p in parts):
        line += f" ({tool} takes {', '.join(schema.get('properties', {}))})"
    return line


def unknown_arguments(tool: str, given: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """The error for arguments the tool does not take (None when there are none)."""
    known = list(schema.get("properties", {}))
    unknown = [k for k in given if k not in known]
    if not unknown:
        return None
    names = ", ".join(repr(k) for k in unknown)
    return (f"{tool}: unknown argument{'s' if len(unknown) > 1 else ''} {names}; "
            f"it takes {', '.join(known) or 'no arguments'}")
