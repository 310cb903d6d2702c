"""The tiny condition language used by form definitions (``when:`` and ``case:``).

A condition is a YAML mapping; several keys in one mapping must all hold::

    equals: {relationship: Mẹ}              # answer equals the value (accents/case ignored)
    not_equals: {father_known: Có}
    one_of: {request: [Cấp lại do bị mất, Cấp lại do hư hỏng]}
    filled: spouse_name                      # answered with something (a list: all of them)
    age_under: {field: birth_date, years: 14}       # age today, from a date answer
    age_at_least: {field: birth_date, years: 14}
    all: [<condition>, ...]
    any: [<condition>, ...]
    not: <condition>

Any leaf about a field without an answer is false. Nothing is ever ``eval``-ed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from bot import clock
from bot.vntext import fold

from .validators import age_on

__all__ = ["ConditionError", "evaluate", "references", "validate"]

_FIELD_MAP_OPS = ("equals", "not_equals", "one_of")
_AGE_OPS = ("age_under", "age_at_least")
_LIST_OPS = ("all", "any")
OPERATORS = _FIELD_MAP_OPS + _AGE_OPS + _LIST_OPS + ("not", "filled")


class ConditionError(ValueError):
    """A malformed condition in a form definition."""


def _same(answer: Any, expected: Any) -> bool:
    return answer is not None and fold(str(answer)) == fold(str(expected))


def _age(answers: Mapping[str, Any], spec: Mapping[str, Any], today: dt.date):
    value = answers.get(spec["field"])
    if value in (None, ""):
        return None
    birth = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    return age_on(birth, today)


def _filled_keys(arg) -> list[str]:
    return [arg] if isinstance(arg, str) else list(arg)


def _leaf(op: str, arg: Any, answers: Mapping[str, Any], today: dt.date) -> bool:
    if op == "equals":
        return all(_same(answers.get(k), v) for k, v in arg.items())
    if op == "not_equals":
        return all(answers.get(k) is not None and not _same(answers.get(k), v) for k, v in arg.items())
    if op == "one_of":
        return all(any(_same(answers.get(k), v) for v in vs) for k, vs in arg.items())
    if op == "filled":
        return all(answers.get(k) not in (None, "") for k in _filled_keys(arg))
    age = _age(answers, arg, today)
    if age is None:
        return False
    return age < arg["years"] if op == "age_under" else age >= arg["years"]


def evaluate(condition: Mapping[str, Any] | None, answers: Mapping[str, Any],
             today: dt.date | None = None) -> bool:
    """Whether ``condition`` holds for ``answers`` (``None`` or ``{}`` always holds)."""
    if not condition:
        return True
    today = today or clock.today()
    results = []
    for op, arg in condition.items():
        if op == "all":
            results.append(all(evaluate(c, answers, today) for c in arg))
        elif op == "any":
            results.append(any(evaluate(c, answers, today) for c in arg))
        elif op == "not":
            results.append(not evaluate(arg, answers, today))
        else:
            results.append(_leaf(op, arg, answers, today))
    return all(results)


def references(condition: Mapping[str, Any] | None) -> set[str]:
    """The field keys a condition reads."""
    keys: set[str] = set()
    for op, arg in (condition or {}).items():
        if op in _LIST_OPS:
            for sub in arg:
                keys |= references(sub)
        elif op == "not":
            keys |= references(arg)
        elif op == "filled":
            keys |= set(_filled_keys(arg))
        elif op in _AGE_OPS:
            keys.add(arg["field"])
        else:
            keys |= set(arg)
    return keys


def validate(condition: Any, where: str) -> None:
    """Raise :class:`ConditionError` (naming ``where``) unless ``condition`` is well formed."""
    if not isinstance(condition, Mapping) or not condition:
        raise ConditionError(f"{where}: a condition must be a non-empty mapping, got {condition!r}")
    for op, arg in condition.items():
        if op not in OPERATORS:
            raise ConditionError(f"{where}: unknown operator {op!r} (known: {', '.join(OPERATORS)})")
        if op in _LIST_OPS:
            if not isinstance(arg, list) or not arg:
                raise ConditionError(f"{where}: {op} needs a non-empty list of conditions")
            for sub in arg:
                validate(sub, where)
        elif op == "not":
            validate(arg, where)
        elif op == "filled":
            if not (isinstance(arg, str) or (isinstance(arg, list) and all(isinstance(a, str) for a in arg))):
                raise ConditionError(f"{where}: filled needs a field key or a list of keys")
        elif op in _AGE_OPS:
            if not (isinstance(arg, Mapping) and isinstance(arg.get("field"), str)
                    and isinstance(arg.get("years"), int)):
                raise ConditionError(f"{where}: {op} needs {{field: <date field>, years: <int>}}")
        elif not isinstance(arg, Mapping) or not arg:
            raise ConditionError(f"{where}: {op} needs a mapping {{field: value}}")
        elif op == "one_of" and not all(isinstance(v, list) for v in arg.values()):
            raise ConditionError(f"{where}: one_of needs {{field: [values]}}")
