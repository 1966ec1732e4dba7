"""Tool registry: pydantic-typed tools, safe dispatch, and the grammar-ready action schema.

A tool is anything with ``name``, ``description``, ``args_model`` (a pydantic model) and
``run(args)``. :class:`ToolRegistry` validates the model's arguments against ``args_model`` and
turns every failure (unknown tool, bad arguments, an exception inside the tool) into an error
:class:`Observation` the model can read and correct, so a bad tool call never crashes the agent.

Security: tools run only when the *model's own* structured action (the JSON produced under the
grammar from :func:`tool_call_schema`, parsed by :func:`parse_tool_call`) names them. Nothing here
reads tool calls out of observation or document text; observations are plain data for the prompt.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from agentkit.errors import ToolError

FINISH = "finish"
"""Reserved action name: the agent stops and answers. Handled by the agent, never registered."""

DEFAULT_MAX_OUTPUT_CHARS = 2000
DEFAULT_STRING_MAX = 200  # maxLength given to string arguments that declare none, so grammars stay finite
DEFAULT_ARRAY_MAX = 8
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class Observation(BaseModel):
    """What the agent sees after a tool call. ``content`` goes into the prompt; ``data`` is for code."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tool: str
    ok: bool
    content: str
    data: Any = None
    error: str | None = None


class ToolOutput(BaseModel):
    """A tool result with separate prompt text and machine-readable data (e.g. ScoredPassages)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    content: str
    data: Any = None


@runtime_checkable
class Tool(Protocol):
    name: str
    description: str
    args_model: type[BaseModel]

    def run(self, args: BaseModel) -> str | BaseModel:
        """Run with validated arguments; may return ``str``, a ``ToolOutput``, or any pydantic model."""
        ...


@dataclass
class FunctionTool:
    """A plain function exposed as a tool; its keyword arguments come from ``args_model``."""

    name: str
    description: str
    args_model: type[BaseModel]
    func: Callable[..., Any]

    def run(self, args: BaseModel) -> Any:
        # getattr keeps nested models as models (model_dump would flatten them to dicts)
        return self.func(**{field: getattr(args, field) for field in type(args).model_fields})


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise ToolError(f"invalid tool name {name!r}: use 1-40 chars of a-z, 0-9, _ starting with a letter")
    if name == FINISH:
        raise ToolError(f"{FINISH!r} is reserved for the agent's final action; choose another tool name")


def _docstring_summary(func: Callable[..., Any]) -> str:
    doc = inspect.getdoc(func) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def _parameter_hints(func: Callable[..., Any], localns: dict[str, Any] | None) -> dict[str, Any]:
    # Only parameters matter; the return annotation may name a type we cannot (and need not) resolve.
    # String annotations (``from __future__ import annotations``) of functions defined inside another
    # function refer to its locals, so the caller's frame and the closure are searched too.
    annotations = {k: v for k, v in getattr(func, "__annotations__", {}).items() if k != "return"}
    namespace = {**(localns or {})}
    try:
        namespace.update(inspect.getclosurevars(func).nonlocals)
    except (TypeError, ValueError):
        pass
    shim = types.SimpleNamespace(__annotations__=annotations)
    try:
        return typing.get_type_hints(shim, globalns=getattr(func, "__globals__", {}), localns=namespace,
                                     include_extras=True)
    except Exception as exc:  # unresolvable forward references
        raise ToolError(f"cannot read type hints of {getattr(func, '__name__', func)}: {exc}") from exc


def args_model_from_function(func: Callable[..., Any], model_name: str | None = None,
                             localns: dict[str, Any] | None = None) -> type[BaseModel]:
    """A pydantic model of ``func``'s parameters (type hints, defaults, ``Annotated[..., Field()]``)."""
    hints = _parameter_hints(func, localns)
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ToolError(f"tool function {func.__name__}: parameter {pname!r} must be a normal named parameter")
        if pname not in hints:
            raise ToolError(f"tool function {func.__name__}: parameter {pname!r} needs a type hint")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (hints[pname], default)
    name = model_name or "".join(p.capitalize() for p in func.__name__.split("_")) + "Args"
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def function_tool(func: Callable[..., Any], name: str | None = None, description: str | None = None,
                  localns: dict[str, Any] | None = None) -> FunctionTool:
    """Wrap a typed function as a tool (the description defaults to its docstring's first paragraph)."""
    tool_name = name or func.__name__
    _check_name(tool_name)
    desc = description if description is not None else _docstring_summary(func)
    return FunctionTool(tool_name, desc, args_model_from_function(func, localns=localns), func)


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    note = f"\n...[truncated {len(text) - limit} chars]"
    return text[: max(0, limit - len(note))] + note


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "arguments"
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unexpected argument"
        elif err.get("type") != "missing" and "input" in err:
            got = repr(err["input"])
            msg += f" (got {got[:60]})"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


class ToolRegistry:
    """Named tools plus safe dispatch. ``call`` never raises for a bad call: it returns an error Observation."""

    def __init__(self, max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS):
        self.max_output_chars = max_output_chars
        self._tools: dict[str, Tool] = {}

    def register(self, tool: Tool) -> Tool:
        if not isinstance(tool, Tool):
            raise ToolError(f"{tool!r} is not a tool: it needs name, description, args_model and run(args)")
        _check_name(tool.name)
        if tool.name in self._tools:
            raise ToolError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return tool

    def tool(self, func: Callable[..., Any] | None = None, *, name: str | None = None,
             description: str | None = None) -> Any:
        """Decorator registering a typed function; usable as ``@reg.tool`` or ``@reg.tool(name=...)``.

        The decorated function is returned unchanged so it stays callable directly.
        """
        caller_locals = sys._getframe(1).f_locals  # resolves hints naming classes local to the caller

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.register(function_tool(fn, name=name, description=description, localns=caller_locals))
            return fn

        return decorate(func) if func is not None else decorate

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolError(f"unknown tool {name!r}; available tools: {', '.join(self.names()) or 'none'}") from None

    def names(self) -> list[str]:
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def _error(self, tool: str, message: str) -> Observation:
        message = _truncate(message, self.max_output_chars - 7)
        return Observation(tool=tool, ok=False, content=f"Error: {message}", error=message)

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> Observation:
        """Validate ``arguments`` and run the tool; every failure comes back as ``ok=False``."""
        if name not in self._tools:
            hint = f"available tools: {', '.join(self.names()) or 'none'}"
            return self._error(str(name)[:60], f"unknown tool {str(name)[:60]!r}; {hint}")
        tool = self._tools[name]
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            return self._error(name, f"arguments must be a JSON object; expected {signature(tool)}")
        try:
            args = tool.args_model.model_validate(arguments)
        except ValidationError as exc:
            return self._error(name, f"invalid arguments: {_format_validation_error(exc)}. "
                                     f"Expected {signature(tool)}")
        try:
            result = tool.run(args)
        except ToolError as exc:  # deliberate, already phrased for the model
            return self._error(name, str(exc))
        except Exception as exc:  # noqa: BLE001  (a tool bug must not kill the agent loop)
            return self._error(name, f"{name} failed: {type(exc).__name__}: {exc}")
        return self._observation(name, result)

    def _observation(self, name: str, result: Any) -> Observation:
        if isinstance(result, ToolOutput):
            content, data = result.content, result.data
        elif isinstance(result, BaseModel):
            content, data = result.model_dump_json(), result
        elif isinstance(result, str):
            content, data = result, None
        else:  # numbers, lists, dicts from user tools
            try:
                content = json.dumps(result, default=str)
            except (TypeError, ValueError):
                content = str(result)
            data = result
        return Observation(tool=name, ok=True, content=_truncate(content, self.max_output_chars), data=data)


# ---------------------------------------------------------------------------------------------
# schemas for grammar-constrained generation


def _type_label(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return "|".join(json.dumps(v) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type_label(s) for s in schema[key])
    t = schema.get("type", "any")
    if t == "array":
        return f"list[{_type_label(schema.get('items', {}))}]"
    return str(t)


def signature(tool: Tool) -> str:
    """``name(arg: type, opt: type = default)`` from the tool's argument schema."""
    schema = grammar_safe_schema(tool.args_model.model_json_schema(), strict=False)
    required = set(schema.get("required", []))
    parts = []
    for pname, pschema in schema.get("properties", {}).items():
        part = f"{pname}: {_type_label(pschema)}"
        if pname not in required and "default" in pschema:
            part += f" = {json.dumps(pschema['default'])}"
        parts.append(part)
    return f"{tool.name}({', '.join(parts)})"


def describe_tools(registry: ToolRegistry, *, finish: str | None = None) -> str:
    """A compact listing for the prompt: one line per tool with its signature and description.

    ``finish`` (e.g. ``"finish(answer: string): give the final answer"``) is appended as the last line.
    """
    lines = []
    for tool in registry:
        line = f"- {signature(tool)}"
        if tool.description:
            line += f": {tool.description}"
        lines.append(line)
    if finish:
        lines.append(f"- {finish}")
    return "\n".join(lines)


_DROP_KEYS = {"title", "examples", "$defs", "definitions", "$schema"}


def grammar_safe_schema(schema: dict[str, Any], *, string_max: int = DEFAULT_STRING_MAX,
                        array_max: int = DEFAULT_ARRAY_MAX, strict: bool = True) -> dict[str, Any]:
    """Rewrite a pydantic JSON schema into the bounded subset llama.cpp's grammar converter handles.

    Inlines ``$ref``s, drops titles, gives every free string a ``maxLength`` and every array a
    ``maxItems``. With ``strict``, free-form values (``Any``, ``dict[str, X]``) raise ToolError,
    because their grammar would be unbounded and generation might never stop.
    """
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}

    def visit(node: Any, path: str, seen: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            key = ref.rsplit("/", 1)[-1]
            if key in seen or key not in defs:
                raise ToolError(f"argument {path}: recursive or unresolvable reference {ref}")
            merged = {**defs[key], **{k: v for k, v in node.items() if k != "$ref"}}
            return visit(merged, path, seen + (key,))
        if "allOf" in node and len(node["allOf"]) == 1:  # pydantic wraps described refs this way
            merged = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
            return visit(merged, path, seen)
        out = {k: copy.deepcopy(v) for k, v in node.items() if k not in _DROP_KEYS}
        for key in ("anyOf", "oneOf"):
            if key in out:
                out[key] = [visit(s, path, seen) for s in node[key]]
        t = out.get("type")
        if "const" in out or "enum" in out or "anyOf" in out or "oneOf" in out:
            return out
        if t == "string" and "pattern" not in out and "format" not in out:
            out.setdefault("maxLength", string_max)
        elif t == "array":
            if "items" in node:
                out["items"] = visit(node["items"], f"{path}[]", seen)
            if "prefixItems" in node:
                out["prefixItems"] = [visit(s, f"{path}[]", seen) for s in node["prefixItems"]]
            out.setdefault("maxItems", array_max)
        elif t == "object" or "properties" in out:
            props = node.get("properties", {})
            extra = node.get("additionalProperties", False)
            if (extra is True or isinstance(extra, dict) or (not props and "additionalProperties" not in node)) \
                    and strict:
                raise ToolError(f"argument {path or 'arguments'} is a free-form object; declare its fields "
                                "with a pydantic model so the action grammar stays bounded")
            out["properties"] = {k: visit(v, f"{path}.{k}" if path else k, seen) for k, v in props.items()}
            out["additionalProperties"] = False if strict else extra
        elif t is None and strict:
            raise ToolError(f"argument {path or 'arguments'} has no type (Any); give it a concrete type "
                            "so the action grammar stays bounded")
        return out

    return visit(schema, "", ())


def tool_call_schema(registry: ToolRegistry, *, thought_max_chars: int = 300,
                     finish_arguments: dict[str, Any] | None = None,
                     string_max: int = DEFAULT_STRING_MAX) -> dict[str, Any]:
    """JSON schema of ONE model action: ``{"thought": ..., "action": {"tool": ..., "arguments": {...}}}``.

    ``action`` is a ``oneOf`` with one branch per tool (``tool`` is a ``const``) plus ``finish``,
    whose arguments default to ``{"answer": string}``. Every string is length-bounded, so the grammar
    llama.cpp builds from it is finite and generation always terminates.
    """
    if finish_arguments is None:
        finish_arguments = {
            "type": "object",
            "properties": {"answer": {"type": "string", "maxLength": 400}},
            "required": ["answer"],
        }
    branches = []
    for tool in registry:
        args_schema = grammar_safe_schema(tool.args_model.model_json_schema(), string_max=string_max)
        branches.append(_branch(tool.name, args_schema))
    branches.append(_branch(FINISH, grammar_safe_schema(finish_arguments, string_max=string_max)))
    return {
        "type": "object",
        "properties": {
            "thought": {"type": "string", "maxLength": thought_max_chars},
            "action": {"oneOf": branches},
        },
        "required": ["thought", "action"],
        "additionalProperties": False,
    }


def _branch(name: str, args_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"tool": {"type": "string", "const": name}, "arguments": args_schema},
        "required": ["tool", "arguments"],
        "additionalProperties": False,
    }


class ToolCall(BaseModel):
    """One parsed model action."""

    thought: str = ""
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_finish(self) -> bool:
        return self.tool == FINISH


def parse_tool_call(text: str) -> ToolCall:
    """Parse the model's JSON action (the shape of :func:`tool_call_schema`).

    Only ever call this on the model's own grammar-constrained output, never on document text.
    Raises ToolError with a message suitable for feeding back to the model.
    """
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(f"action is not valid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(obj, dict):
        raise ToolError("action must be a JSON object with 'thought' and 'action'")
    action = obj.get("action")
    if not isinstance(action, dict) or not isinstance(action.get("tool"), str):
        raise ToolError("action must contain {\"tool\": <name>, \"arguments\": {...}}")
    arguments = action.get("arguments", {})
    if not isinstance(arguments, dict):
        raise ToolError("'arguments' must be a JSON object")
    thought = obj.get("thought", "")
    return ToolCall(thought=thought if isinstance(thought, str) else str(thought),
                    tool=action["tool"], arguments=arguments)
