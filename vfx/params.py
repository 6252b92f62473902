"""Animated parameters: keyframes, expressions and drivers for numeric and colour options.

An animatable option (``Int``, ``Float``, ``Color``, ``Vec``) takes a constant, or a table:

- ``{ keyframes = [[0, 0.0], ["2s", 1.0, "hold"], [96, 0.5]], easing = "ease_out" }``
- ``{ expr = "0.5 + 0.5 * sin(t * 2 * pi)" }`` (``t`` seconds, ``frame``, ``fps``)
- ``{ driver = "node_id", signal = "value", scale = 1.0, offset = 0.0 }``

Every form evaluates a whole batch of frames at once to a NumPy array (``evaluate``).
Expressions go through a restricted evaluator: numbers, the names above, arithmetic,
comparisons, ``a if c else b`` and a fixed set of math functions; nothing else parses.
"""

from __future__ import annotations

import ast
import math
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from . import timing
from .ops.curves import ease, smoothstep

#: the easings a keyframe takes by name (``vfx.ops.curves.ease`` draws them)
EASINGS = ("linear", "hold", "ease_in", "ease_out", "ease_in_out")
MAX_EXPRESSION_NODES = 200
#: the longest expression text read; longer ones are refused before they are parsed
MAX_EXPRESSION_CHARS = 2000


class Animation:
    """A value that changes with the frame; ``evaluate(frames, fps)`` gives one row per frame."""

    def evaluate(self, frames: np.ndarray, fps: Fraction) -> np.ndarray:
        raise NotImplementedError

    def refs(self) -> list[str]:
        """Node ids this animation reads (drivers)."""
        return []


class Keyframes(Animation):
    """Values at key times, eased between; held before the first and after the last key."""

    def __init__(self, times: list[int], values: np.ndarray, easings: list):
        order = np.argsort(times, kind="stable")
        self.times = np.asarray(times, np.float64)[order]
        self.values = np.asarray(values, np.float64)[order]
        self.easings = [easings[i] for i in order]

    def evaluate(self, frames, fps):
        f = np.asarray(frames, np.float64)
        k = np.clip(np.searchsorted(self.times, f, side="right") - 1, 0, len(self.times) - 1)
        nxt = np.minimum(k + 1, len(self.times) - 1)
        span = self.times[nxt] - self.times[k]
        u = np.where(span > 0, (f - self.times[k]) / np.where(span > 0, span, 1), 0.0)
        u = np.clip(u, 0.0, 1.0)
        eased = np.empty_like(u)
        for i, easing in enumerate(self.easings):
            sel = k == i
            if sel.any():
                eased[sel] = ease(u[sel], easing)
        a, b = self.values[k], self.values[nxt]
        if a.ndim == 2:
            eased = eased[:, None]
        return a + (b - a) * eased


class Expression(Animation):
    """A formula of ``t``, ``frame`` and ``fps`` evaluated by a restricted NumPy interpreter."""

    def __init__(self, source: str, tree: ast.AST):
        self.source, self.tree = source, tree

    def evaluate(self, frames, fps):
        f = np.asarray(frames, np.float64)
        names = {
            "t": f / float(fps),
            "frame": f,
            "fps": np.full_like(f, float(fps)),
            "pi": math.pi,
            "e": math.e,
            "tau": math.tau,
        }
        with np.errstate(all="ignore"):
            out = _Evaluator(names).visit(self.tree)
        out = np.broadcast_to(np.asarray(out, np.float64), f.shape).copy()
        return np.nan_to_num(out, nan=0.0, posinf=1e30, neginf=-1e30)


class ExpressionVector(Animation):
    """One expression per component of a vector or colour option: ``expr = ["t * 100", "540"]``."""

    def __init__(self, parts: list[Expression]):
        self.parts = parts

    def evaluate(self, frames, fps):
        return np.stack([p.evaluate(frames, fps) for p in self.parts], axis=-1)


class Driver(Animation):
    """Another node's signal (``Node.signal``), scaled and offset: ``value = signal * scale + offset``."""

    def __init__(self, node_id: str, signal: str, scale: float, offset: float):
        self.node_id, self.signal, self.scale, self.offset = node_id, signal, scale, offset
        self.node = None  # bound by the graph

    def refs(self):
        return [self.node_id]

    def evaluate(self, frames, fps):
        values = np.asarray(self.node.signal(self.signal, list(map(int, frames))), np.float64)
        return values * self.scale + self.offset


_FUNCTIONS: dict[str, Callable] = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "atan2": np.arctan2,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "exp": np.exp,
    "log": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,
    "sign": np.sign,
    "min": np.minimum,
    "max": np.maximum,
    "pow": np.power,
    "clamp": lambda x, lo, hi: np.clip(x, lo, hi),
    "mix": lambda a, b, u: a + (b - a) * u,
    "step": lambda edge, x: (np.asarray(x) >= edge).astype(np.float64),
    "smoothstep": smoothstep,
    "fract": lambda x: np.asarray(x) - np.floor(x),
    "noise": lambda x: _value_noise(x),
}
#: how many arguments each function takes
_ARITY = {name: 1 for name in _FUNCTIONS} | {
    "atan2": 2,
    "min": 2,
    "max": 2,
    "pow": 2,
    "step": 2,
    "clamp": 3,
    "mix": 3,
    "smoothstep": 3,
}
_NAMES = ("t", "frame", "fps", "pi", "e", "tau")
_BINOPS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Mod: np.mod,
    ast.Pow: np.power,
    ast.FloorDiv: np.floor_divide,
}
_COMPARE = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}


def _value_noise(x):
    from .ops.noise import value1d  # imports torch: only when an expression calls noise()

    return value1d(x)


def compile_expression(source: str) -> Expression:
    """Parse and check an expression; ``ValueError`` says what is not allowed."""
    if not isinstance(source, str) or not source.strip():
        raise ValueError("expr must be a non-empty string")
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ValueError(
            f"expression {_short(source)} is too long ({len(source)} characters, at most {MAX_EXPRESSION_CHARS})"
        )
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"expression {_short(source)}: syntax error: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"expression {_short(source)} is nested too deeply") from None
    calls = set()
    for count, node in enumerate(ast.walk(tree), start=1):
        if count > MAX_EXPRESSION_NODES:
            raise ValueError(f"expression {_short(source)} is too long (more than {MAX_EXPRESSION_NODES} parts)")
        _check(node, source)
        if isinstance(node, ast.Call):
            calls.add(id(node.func))
        elif isinstance(node, ast.Name) and node.id in _FUNCTIONS and id(node) not in calls:
            raise ValueError(
                f"expression {_short(source)}: '{node.id}' is a function; call it, as in "
                f"{node.id}({', '.join('x' * _ARITY[node.id])})"
            )
    return Expression(source, tree)


def _short(text: str) -> str:
    """``repr`` of an expression, cut to 60 characters for messages."""
    text = repr(text)
    return text if len(text) <= 60 else text[:50] + f"... ({len(text)} characters)"


def _check(node: ast.AST, source: str) -> None:
    ok = (
        ast.Constant,
        ast.Name,
        ast.BinOp,
        ast.UnaryOp,
        ast.Compare,
        ast.IfExp,
        ast.Call,
        ast.Load,
        ast.USub,
        ast.UAdd,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.Not,
        *_BINOPS,
        *_COMPARE,
    )
    if isinstance(node, ast.Attribute):
        raise ValueError(f"expression {_short(source)}: attribute access ('.{node.attr}') is not allowed")
    if not isinstance(node, ok):
        raise ValueError(
            f"expression {_short(source)}: {type(node).__name__} is not allowed "
            "(only numbers, t, frame, fps, arithmetic, comparisons and math functions)"
        )
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ValueError(f"expression {_short(source)}: only numbers are allowed as constants, not {node.value!r}")
        try:
            finite = math.isfinite(float(node.value))
        except OverflowError:
            finite = False
        if not finite:
            raise ValueError(f"expression {_short(source)}: a number is out of range (beyond about 1.8e308)")
    if isinstance(node, ast.Name) and node.id not in _NAMES and node.id not in _FUNCTIONS:
        raise ValueError(
            f"expression {_short(source)}: unknown name '{node.id}' (names: {', '.join(_NAMES)}; "
            f"functions: {', '.join(sorted(_FUNCTIONS))})"
        )
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ValueError(
                f"expression {_short(source)}: '{what}' is not an allowed function ({', '.join(sorted(_FUNCTIONS))})"
            )
        if node.keywords:
            raise ValueError(f"expression {_short(source)}: keyword arguments are not allowed")
        want = _ARITY[node.func.id]
        if len(node.args) != want:
            raise ValueError(
                f"expression {_short(source)}: {node.func.id}() takes {want} argument"
                f"{'s' if want > 1 else ''}, got {len(node.args)}"
            )


class _Evaluator(ast.NodeVisitor):
    def __init__(self, names):
        self.names = names

    def visit_Constant(self, node):
        return float(node.value)

    def visit_Name(self, node):
        return self.names[node.id]

    def visit_BinOp(self, node):
        return _BINOPS[type(node.op)](self.visit(node.left), self.visit(node.right))

    def visit_UnaryOp(self, node):
        v = self.visit(node.operand)
        return (
            -v if isinstance(node.op, ast.USub) else (1.0 - np.asarray(v, bool)) if isinstance(node.op, ast.Not) else v
        )

    def visit_Compare(self, node):
        left, result = self.visit(node.left), True
        for op, right in zip(node.ops, node.comparators):
            r = self.visit(right)
            result = np.logical_and(result, _COMPARE[type(op)](left, r))
            left = r
        return np.asarray(result, np.float64)

    def visit_BoolOp(self, node):
        values = [np.asarray(self.visit(v)) != 0 for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = values[0]
        for v in values[1:]:
            out = combine(out, v)
        return out.astype(np.float64)

    def visit_IfExp(self, node):
        return np.where(np.asarray(self.visit(node.test)) != 0, self.visit(node.body), self.visit(node.orelse))

    def visit_Call(self, node):
        return _FUNCTIONS[node.func.id](*[self.visit(a) for a in node.args])


ANIMATION_KEYS = ("keyframes", "expr", "driver")


def is_animation_table(value: Any) -> bool:
    return isinstance(value, dict) and any(k in value for k in ANIMATION_KEYS)


def parse_animation(value: dict, parse_one: Callable[[Any], Any], fps: Fraction, components: int = 1) -> Animation:
    """A keyframes/expr/driver table to an ``Animation``; ``parse_one`` checks each key's value.

    For an option of several components (a vector, a colour) ``expr`` may be a list with one
    expression per component; a single expression or a driver applies to every component.
    """
    kinds = [k for k in ANIMATION_KEYS if k in value]
    if len(kinds) != 1:
        raise ValueError(f"an animated value has exactly one of {', '.join(ANIMATION_KEYS)}; got {', '.join(kinds)}")
    kind = kinds[0]
    allowed = {
        "keyframes": {"keyframes", "easing"},
        "expr": {"expr"},
        "driver": {"driver", "signal", "scale", "offset"},
    }[kind]
    extra = set(value) - allowed
    if extra:
        raise ValueError(
            f"unknown key(s) {', '.join(sorted(extra))} in a {kind} table (allowed: {', '.join(sorted(allowed))})"
        )
    if kind == "expr":
        if isinstance(value["expr"], list):
            if components == 1 or len(value["expr"]) != components:
                raise ValueError(
                    f"expr as a list needs one expression per component ({components}), got {len(value['expr'])}"
                )
            return ExpressionVector([compile_expression(e) for e in value["expr"]])
        return compile_expression(value["expr"])
    if kind == "driver":
        node_id = value["driver"]
        if not isinstance(node_id, str) or not node_id:
            raise ValueError("driver must name a node id")
        scale, offset = value.get("scale", 1.0), value.get("offset", 0.0)
        for name, v in (("scale", scale), ("offset", offset)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"driver {name} must be a finite number, got {v!r}")
        return Driver(node_id, str(value.get("signal", "value")), float(scale), float(offset))
    keys = value["keyframes"]
    default_easing = _parse_easing(value.get("easing", "linear"))
    if not isinstance(keys, list) or not keys:
        raise ValueError("keyframes must be a non-empty list of [time, value] or [time, value, easing]")
    times, values, easings = [], [], []
    for i, key in enumerate(keys):
        if not isinstance(key, list) or len(key) not in (2, 3):
            raise ValueError(f"keyframe {i + 1}: expected [time, value] or [time, value, easing], got {key!r}")
        try:
            times.append(timing.to_frames(key[0], fps))
            values.append(_as_row(parse_one(key[1])))
            easings.append(_parse_easing(key[2]) if len(key) == 3 else default_easing)
        except ValueError as exc:
            raise ValueError(f"keyframe {i + 1}: {exc}") from None
    return Keyframes(
        times, np.array(values, np.float64).squeeze(-1) if len(values[0]) == 1 else np.array(values), easings
    )


def _as_row(value) -> list[float]:
    return [float(v) for v in value] if isinstance(value, (tuple, list)) else [float(value)]


def _parse_easing(value):
    if isinstance(value, str) and value in EASINGS:
        return value
    if (
        isinstance(value, list)
        and len(value) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        x1, y1, x2, y2 = map(float, value)
        if not all(map(math.isfinite, (y1, y2))):
            raise ValueError(f"cubic-bezier values must be finite, got {value!r}")
        if not (0 <= x1 <= 1 and 0 <= x2 <= 1):
            raise ValueError(f"cubic-bezier x values must be within 0..1, got {value!r}")
        return (x1, y1, x2, y2)
    raise ValueError(f"easing must be one of {', '.join(EASINGS)} or [x1, y1, x2, y2], got {value!r}")
