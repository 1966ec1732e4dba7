"""Metadata filters for retrieval.

``{"key": value}`` equality, ``{"key": [v1, v2]}`` any-of, ``{"key": {"$gte": x, "$lte": y}}``
ranges (``$gt $gte $lt $lte $eq $ne $in $nin $exists``). Keys are document metadata keys or the
document fields ``corpus``, ``doc_id``, ``source``, ``title``. ISO dates compare as strings;
``date``/``datetime`` filter values are converted to ISO strings. A document lacking the key,
or holding an incomparable value, does not match. List-valued metadata (tags) matches when
any element matches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from agentkit.errors import AgentkitError

Predicate = Callable[[Mapping[str, Any]], bool]

MISSING = object()
_RANGE_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


class InvalidFilterError(AgentkitError, ValueError):
    """A retrieval filter is malformed (unknown operator, wrong value type)."""


def _norm(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _values(doc_value: Any) -> list[Any]:
    if isinstance(doc_value, (list, tuple, set)):
        return [_norm(v) for v in doc_value]
    return [_norm(doc_value)]


def _compare(op: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return op(a, b)
    if type(a) is not type(b):
        return False  # "2024" vs 2024: incomparable, so no match rather than a TypeError
    try:
        return op(a, b)
    except TypeError:
        return False


def _equal(a: Any, b: Any) -> bool:
    return _compare(lambda x, y: x == y, a, b)


def _condition(key: str, spec: Any) -> Callable[[Any], bool]:
    """Predicate over the document's value for ``key`` (``MISSING`` when absent)."""
    if isinstance(spec, Mapping):
        if not spec:
            raise InvalidFilterError(f"filter on {key!r} has an empty operator object")
        checks = [_operator(key, op, _norm_spec(arg)) for op, arg in spec.items()]
        return lambda v: all(check(v) for check in checks)
    if isinstance(spec, (list, tuple, set)):
        options = [_norm(o) for o in spec]
        return lambda v: v is not MISSING and any(_equal(x, o) for x in _values(v) for o in options)
    target = _norm(spec)
    return lambda v: v is not MISSING and any(_equal(x, target) for x in _values(v))


def _norm_spec(arg: Any) -> Any:
    if isinstance(arg, (list, tuple, set)):
        return [_norm(a) for a in arg]
    return _norm(arg)


def _operator(key: str, op: str, arg: Any) -> Callable[[Any], bool]:
    if op in _RANGE_OPS:
        if isinstance(arg, (list, dict)) or arg is None:
            raise InvalidFilterError(f"filter {key!r}: {op} needs a single number or string, got {arg!r}")
        fn = _RANGE_OPS[op]
        return lambda v: v is not MISSING and any(_compare(fn, x, arg) for x in _values(v))
    if op == "$eq":
        return _condition(key, arg)
    if op == "$ne":
        eq = _condition(key, arg)
        return lambda v: not eq(v)
    if op in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise InvalidFilterError(f"filter {key!r}: {op} needs a list, got {arg!r}")
        inside = _condition(key, arg)
        return inside if op == "$in" else (lambda v: not inside(v))
    if op == "$exists":
        want = bool(arg)
        return lambda v: (v is not MISSING) == want
    raise InvalidFilterError(
        f"filter {key!r}: unknown operator {op!r}; use one of $eq $ne $in $nin $gt $gte $lt $lte $exists"
    )


def compile_conditions(filters: Mapping[str, Any] | None) -> list[tuple[str, Callable[[Any], bool]]]:
    """Per-key predicates over the document's value for that key (``MISSING`` when absent); ANDed."""
    if not filters:
        return []
    if not isinstance(filters, Mapping):
        raise InvalidFilterError(f"filters must be a dict of key -> condition, got {type(filters).__name__}")
    conds = []
    for key, spec in filters.items():
        if not isinstance(key, str) or not key:
            raise InvalidFilterError(f"filter keys must be non-empty strings, got {key!r}")
        conds.append((key, _condition(key, spec)))
    return conds


def compile_filters(filters: Mapping[str, Any] | None) -> Predicate | None:
    """Turn a filter dict into a predicate over a document's fields+metadata mapping (None: match all)."""
    conds = compile_conditions(filters)
    if not conds:
        return None
    return lambda record: all(check(record.get(key, MISSING)) for key, check in conds)
