"""Safe arithmetic for the agent: the expression is parsed with ``ast`` and walked; nothing is eval'd.

Accepted: numbers, ``+ - * / // % **`` (``^`` means power), unary minus, parentheses, and the
functions ``round abs min max sqrt log percent_change``. Rejected: names, attributes, subscripts,
lambdas, any other call, exponents whose result would exceed ~1e120, expressions over
``MAX_EXPRESSION_CHARS``.

Conveniences for numbers copied from documents (decided here, documented for prompt writers):
  * ``12%`` (a ``%`` right after a number and not followed by an operand) means 0.12;
    ``10 % 3`` and ``10%3`` are modulo.
  * Thousands separators ``1,234.5`` are accepted *outside* function calls; inside a call the
    comma separates arguments (``max(1,234)`` is 234), so write ``max(1234, 5)`` there.
  * Currency symbols ``$ € £ ¥`` are ignored; ``×``, ``÷`` and the Unicode minus are understood.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import Field

from agentkit.errors import ToolError
from agentkit.tools.registry import FunctionTool, ToolOutput, function_tool

MAX_EXPRESSION_CHARS = 300
MAX_INT_BITS = 400  # ~1e120: far beyond any real quantity, small enough to compute instantly
Number = int | float

_BINOPS: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def percent_change(old: Number, new: Number) -> float:
    """(new - old) / old * 100."""
    if old == 0:
        raise ToolError("percent_change: old value is 0, the change is undefined")
    return (new - old) / old * 100


def _sqrt(x: Number) -> float:
    if x < 0:
        raise ToolError("sqrt of a negative number")
    return math.sqrt(x)


def _log(x: Number, base: Number | None = None) -> float:
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise ToolError("log needs a positive argument (and a positive base other than 1)")
    return math.log(x) if base is None else math.log(x, base)


def _round(x: Number, ndigits: Number = 0) -> Number:
    """Half-up rounding of the decimal written value (round(2.5) = 3, round(2.675, 2) = 2.68), as people expect."""
    if not isinstance(ndigits, int) or not -20 <= ndigits <= 20:
        raise ToolError("round(x, ndigits): ndigits must be a whole number between -20 and 20")
    exact = Decimal(x) if isinstance(x, int) else Decimal(repr(x))
    rounded = exact.quantize(Decimal(1).scaleb(-ndigits), rounding=ROUND_HALF_UP)
    return int(rounded) if ndigits <= 0 else float(rounded)


def _min(*xs: Number) -> Number:
    return min(xs)


def _max(*xs: Number) -> Number:
    return max(xs)


# name -> (function, min args, max args)
FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "round": (_round, 1, 2),
    "abs": (abs, 1, 1),
    "min": (_min, 1, 20),
    "max": (_max, 1, 20),
    "sqrt": (_sqrt, 1, 1),
    "log": (_log, 1, 2),
    "percent_change": (percent_change, 2, 2),
}


def _check_size(value: Number) -> Number:
    if isinstance(value, complex):
        raise ToolError("the result is not a real number (e.g. a fractional power of a negative number)")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ToolError("number too large (limit about 1e120)")
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value) or abs(value) > 1e120):
        raise ToolError("number too large or undefined (limit about 1e120)")
    return value


def _power(base: Number, exp: Number) -> Number:
    # refuse before computing: 9**9**9 would otherwise allocate gigabytes
    if (isinstance(base, int) and isinstance(exp, int) and exp > 0 and abs(base) > 1
            and (abs(base).bit_length() - 1) * exp > MAX_INT_BITS):
        raise ToolError("exponent too large (results are limited to about 1e120)")
    if abs(exp) > 10_000:
        raise ToolError("exponent too large (at most 10000)")
    try:
        return base**exp
    except OverflowError:
        raise ToolError("number too large (limit about 1e120)") from None
    except ZeroDivisionError:
        raise ToolError("0 cannot be raised to a negative power") from None


class _Evaluator(ast.NodeVisitor):
    def visit_Expression(self, node: ast.Expression) -> Number:
        return self.visit(node.body)

    def visit_Constant(self, node: ast.Constant) -> Number:
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ToolError(f"only numbers are allowed, not {node.value!r}")
        return _check_size(node.value)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Number:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return value
        raise ToolError("only unary + and - are allowed")

    def visit_BinOp(self, node: ast.BinOp) -> Number:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise ToolError("only + - * / // % ** are allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Pow):
            return _check_size(_power(left, right))
        try:
            return _check_size(op(left, right))
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError:
            raise ToolError("number too large (limit about 1e120)") from None

    def visit_Call(self, node: ast.Call) -> Number:
        if not isinstance(node.func, ast.Name):
            raise ToolError(f"only these functions can be called: {', '.join(FUNCTIONS)} (no methods or attributes)")
        if node.func.id not in FUNCTIONS:
            raise ToolError(f"unknown function {node.func.id!r}; allowed: {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise ToolError("keyword arguments are not allowed; pass values positionally")
        func, lo, hi = FUNCTIONS[node.func.id]
        if not lo <= len(node.args) <= hi:
            expected = str(lo) if lo == hi else f"{lo} to {hi}"
            raise ToolError(f"{node.func.id} takes {expected} argument(s), got {len(node.args)}")
        args = [self.visit(a) for a in node.args]
        return _check_size(func(*args))

    def visit_Name(self, node: ast.Name) -> Number:
        raise ToolError(f"unknown name {node.id!r}: use numbers only (copy values from the documents)")

    def generic_visit(self, node: ast.AST) -> Number:
        raise ToolError(f"{type(node).__name__} is not allowed; use numbers, + - * / // % ** and "
                        f"the functions {', '.join(FUNCTIONS)}")


_PERCENT_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)%(?!\s*[\w.(])")
_CURRENCY_RE = re.compile(r"[$€£¥]")
_THOUSANDS_RE = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w,])")


def _strip_thousands(expr: str) -> str:
    """Remove thousands separators from numbers that are not inside a function call's arguments."""
    out, stack, i = [], [], 0  # stack holds True for a call's parenthesis, False for grouping
    while i < len(expr):
        ch = expr[i]
        if ch == "(":
            j = len(out) - 1
            while j >= 0 and out[j] == " ":
                j -= 1
            stack.append(j >= 0 and (out[j].isalnum() or out[j] == "_"))
        elif ch == ")" and stack:
            stack.pop()
        elif ch.isdigit() and not (stack and stack[-1]) and (i == 0 or not (expr[i - 1].isalnum()
                                                                        or expr[i - 1] in "._")):
            m = _THOUSANDS_RE.match(expr, i)
            if m:
                out.append(m.group().replace(",", ""))
                i = m.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def normalise_expression(expression: str) -> str:
    expr = expression.strip().replace("×", "*").replace("÷", "/").replace("−", "-").replace("^", "**")
    expr = _CURRENCY_RE.sub("", expr)
    expr = _strip_thousands(expr)
    return _PERCENT_RE.sub(r"(\1/100)", expr)


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression safely; raises ToolError with a message the model can act on."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"expression too long ({len(expression)} chars, max {MAX_EXPRESSION_CHARS}); "
                        "split the computation into steps")
    expr = normalise_expression(expression)
    if not expr:
        raise ToolError("empty expression")
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"cannot parse {expression!r}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError):  # null bytes, absurd nesting
        raise ToolError(f"cannot parse {expression!r}") from None
    try:
        return _Evaluator().visit(tree)
    except RecursionError:
        raise ToolError("expression is nested too deeply") from None


def format_number(value: Number) -> str:
    """Up to 6 decimals, no float noise (0.1 + 0.2 -> "0.3"), scientific only for extreme magnitudes."""
    if isinstance(value, int):
        return str(value) if abs(value) < 10**21 else f"{value:.6e}"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1e15 or abs(value) < 1e-6:
        return f"{value:.6g}"
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def calculator(
    expression: Annotated[str, Field(max_length=MAX_EXPRESSION_CHARS,
                                     description="arithmetic expression, e.g. '(1,234.5 - 1,100) / 1,100 * 100'")],
) -> ToolOutput:
    """Evaluate arithmetic: + - * / // % ** ( ), 12% = 0.12, round abs min max sqrt log percent_change(old, new)."""
    value = evaluate(expression)
    return ToolOutput(content=format_number(value), data=value)


def calculator_tool() -> FunctionTool:
    return function_tool(calculator)
