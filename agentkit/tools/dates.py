"""Date arithmetic tools: ``date_diff`` and ``date_add``, with lenient parsing of written dates.

Parsed formats (case-insensitive; ordinals like "3rd" and a leading weekday are ignored):
``2024-03-03`` (also with ``/`` or ``.``, and an ISO time suffix, which is dropped),
``March 3, 2024`` / ``Mar 3 2024``, ``3 March 2024`` / ``3 Mar, 2024``, and numeric
``03/04/2024`` only when unambiguous (one part above 12) -- otherwise the tool asks for ISO,
rather than silently guessing US or European order. Month/year arithmetic clamps to the end of
the month (Jan 31 + 1 month = Feb 29 in a leap year), and ``date_diff`` counts a month as
completed on exactly that clamped date, so ``date_add(start, date_diff(start, end).months)``
never passes ``end``. Month names are matched here, not via
``strptime``, so results do not depend on the process locale.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from agentkit.errors import ToolError
from agentkit.tools.registry import FunctionTool, ToolOutput, function_tool

Unit = Literal["days", "weeks", "months", "years"]
DateText = Annotated[str, Field(max_length=40, description="a date, e.g. 2024-03-03 or March 3, 2024")]

_MONTH_NAMES = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
                "october", "november", "december"]
_MONTHS = {name: i + 1 for i, name in enumerate(_MONTH_NAMES)}
_MONTHS.update({name[:3]: i + 1 for i, name in enumerate(_MONTH_NAMES)})
_MONTHS["sept"] = 9
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

_WEEKDAY_RE = re.compile(r"^(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+")
_ORDINAL_RE = re.compile(r"\b(\d{1,2})(st|nd|rd|th)\b")
_ISO_RE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[t ]\d{1,2}:\d{2}.*)?$")
_MDY_RE = re.compile(r"^([a-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})$")
_DMY_RE = re.compile(r"^(\d{1,2})\s+([a-z]+)\.?,?\s+(\d{4})$")
_NUMERIC_RE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")


def _make(year: int, month: int, day: int, original: str) -> date:
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise ToolError(f"{original!r} is not a valid date ({exc})") from None


def _month(name: str, original: str) -> int:
    if name not in _MONTHS:
        raise ToolError(f"unknown month {name!r} in {original!r}; use ISO format like 2024-03-03")
    return _MONTHS[name]


def parse_date(text: str) -> date:
    """Parse one of the documented formats; raises ToolError naming the expected format."""
    s = " ".join(text.strip().lower().split())
    s = _WEEKDAY_RE.sub("", s)
    s = _ORDINAL_RE.sub(r"\1", s).replace(" of ", " ")
    if m := _ISO_RE.match(s):
        return _make(int(m[1]), int(m[2]), int(m[3]), text)
    if m := _MDY_RE.match(s):
        return _make(int(m[3]), _month(m[1], text), int(m[2]), text)
    if m := _DMY_RE.match(s):
        return _make(int(m[3]), _month(m[2], text), int(m[1]), text)
    if m := _NUMERIC_RE.match(s):
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        if a > 12 >= b:
            return _make(year, b, a, text)
        if b > 12 >= a or a == b:
            return _make(year, a, b, text)
        raise ToolError(f"{text!r} is ambiguous (day/month or month/day?); use ISO format like 2024-03-03")
    raise ToolError(f"cannot read the date {text!r}; use ISO format like 2024-03-03 or 'March 3, 2024'")


def add_months(d: date, months: int) -> date:
    """Calendar month arithmetic, clamping the day to the target month's length."""
    y, m = divmod(d.month - 1 + months, 12)
    year = d.year + y
    if not 1 <= year <= 9999:
        raise ToolError("the resulting date is outside the years 1-9999")
    return date(year, m + 1, min(d.day, calendar.monthrange(year, m + 1)[1]))


class DateDifference(BaseModel):
    start: date
    end: date
    days: int
    weeks: float
    months: int = Field(description="whole calendar months completed")
    years: int = Field(description="whole years completed")
    breakdown: tuple[int, int, int] = Field(description="(years, months, days) from start to end")


def difference(start: date, end: date) -> DateDifference:
    sign = -1 if end < start else 1
    lo, hi = (start, end) if sign > 0 else (end, start)
    months = (hi.year - lo.year) * 12 + hi.month - lo.month
    if add_months(lo, months) > hi:
        months -= 1
    rest = (hi - add_months(lo, months)).days
    days = (end - start).days
    return DateDifference(start=start, end=end, days=days, weeks=round(days / 7, 2), months=sign * months,
                          years=sign * (months // 12), breakdown=(sign * (months // 12), sign * (months % 12),
                                                                  sign * rest))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if abs(n) == 1 else 's'}"


def date_diff(start: DateText, end: DateText, unit: Unit = "days") -> ToolOutput:
    """Time from start to end in days, weeks, months or years (whole months/years completed; negative if end is earlier)."""
    diff = difference(parse_date(start), parse_date(end))
    value = {"days": diff.days, "weeks": diff.weeks, "months": diff.months, "years": diff.years}[unit]
    y, m, d = diff.breakdown
    primary = f"{value} weeks" if unit == "weeks" else _plural(int(value), unit[:-1])
    content = (f"{primary} from {diff.start.isoformat()} to {diff.end.isoformat()} "
               f"({_plural(y, 'year')}, {_plural(m, 'month')}, {_plural(d, 'day')}; {_plural(diff.days, 'day')} in total)")
    return ToolOutput(content=content, data=diff)


def shift(d: date, amount: int, unit: Unit) -> date:
    if unit in ("months", "years"):
        return add_months(d, amount * (12 if unit == "years" else 1))
    try:
        return d + timedelta(days=amount * (7 if unit == "weeks" else 1))
    except OverflowError:
        raise ToolError("the resulting date is outside the years 1-9999") from None


def date_add(
    date: DateText,
    amount: Annotated[int, Field(ge=-1_000_000, le=1_000_000, description="how many units to add (negative subtracts)")],
    unit: Unit = "days",
) -> ToolOutput:
    """Add (or subtract, with a negative amount) days, weeks, months or years to a date; returns the ISO date."""
    result = shift(parse_date(date), amount, unit)
    return ToolOutput(content=f"{result.isoformat()} ({_WEEKDAYS[result.weekday()]})", data=result)


def date_tools() -> list[FunctionTool]:
    return [function_tool(date_diff), function_tool(date_add)]
