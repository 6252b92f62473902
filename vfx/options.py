"""Typed node options: the schema each node type declares, used to validate, document and describe.

A node type declares a nested ``Options`` class whose attributes are ``Option`` instances::

    class Options(vfx.Options):
        radius = vfx.opt.Float(5.0, min=0, doc="blur radius in pixels")

``Option.parse`` turns a TOML value into the Python value the node sees, or raises
``ValueError`` with a message saying what was expected; the graph adds file, node and option.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

from . import timing
from .errors import OptionError

REQUIRED = object()

#: the largest pixel size (each side of a frame, each value of an integer vector) unless the
#: environment variable VFX_MAX_SIZE says more
DEFAULT_MAX_SIZE = 16384
#: the largest magnitude of an integer option with no maximum of its own (exact in a float64)
MAX_INT = 2**53
#: the largest magnitude of a number (float, or a float vector's value) with no range of its own;
#: an animated value is clamped to it
MAX_FLOAT = 1e9


def max_size() -> int:
    """The pixel size cap: ``$VFX_MAX_SIZE`` or ``DEFAULT_MAX_SIZE``."""
    try:
        return max(16, int(os.environ.get("VFX_MAX_SIZE", DEFAULT_MAX_SIZE)))
    except ValueError:
        return DEFAULT_MAX_SIZE


def _finite(v):
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"expected a finite number, got {v}")
    return v


@dataclass
class ParseContext:
    """What option parsing may need: the pipeline's frame rate and the pipeline file's folder."""

    fps: Fraction = Fraction(24)
    base_dir: Path = Path(".")
    width: int = 1920
    height: int = 1080


class Option:
    """One typed option: default, one-line doc, and how to parse and describe it."""

    type_name = "any"
    #: numeric and colour options take keyframes, expressions and drivers (see ``vfx.params``)
    animatable = False
    #: values per frame: 1 for numbers, the length of a vector, 4 for a colour
    components = 1

    def __init__(self, default: Any = REQUIRED, *, doc: str = "", animate: bool = True):
        self.default = default
        self.doc = doc
        self.name = ""
        if not animate:  # an option that shapes the stream (a size, a speed) stays constant
            self.animatable = False

    def __set_name__(self, owner, name):
        self.name = name

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def parse(self, value: Any, ctx: ParseContext) -> Any:
        return value

    def parse_any(self, value: Any, ctx: ParseContext) -> Any:
        """``parse``, or an ``Animated`` value for an animation table on an animatable option."""
        from .params import is_animation_table, parse_animation

        if is_animation_table(value):
            if not self.animatable:
                raise ValueError(
                    "this option cannot be animated (it shapes the stream or the encoder); give a constant"
                )
            return Animated(parse_animation(value, lambda v: self.parse(v, ctx), ctx.fps, self.components), self)
        return self.parse(value, ctx)

    def finish(self, values):
        """Bring evaluated animation values (float64, one row per frame) into this option's domain."""
        return values

    def scalar(self, row):
        """One evaluated row as the plain value ``parse`` would have given."""
        return float(row)

    def default_value(self, ctx: ParseContext) -> Any:
        return None if self.required else self.parse(self.default, ctx) if self.default is not None else None

    def constraints(self) -> str:
        return ""

    def describe(self) -> dict:
        out = {
            "name": self.name,
            "type": self.type_name,
            "doc": self.doc,
            "required": self.required,
            "animatable": self.animatable,
        }
        if not self.required:
            out["default"] = self.default
        extra = self.constraints()
        if extra:
            out["constraints"] = extra
        return out


def _short(value) -> str:
    """``repr`` of a value, cut to 60 characters for messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:50] + f"... ({len(text)} characters)"


def _type_label(value) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


class _Ranged(Option):
    def __init__(self, default=REQUIRED, *, min=None, max=None, doc="", animate=True):
        super().__init__(default, doc=doc, animate=animate)
        self.min, self.max = min, max

    def _check_range(self, v):
        _finite(v)
        if self.min is not None and v < self.min:
            raise ValueError(f"must be at least {self.min}, got {v}")
        if self.max is not None and v > self.max:
            raise ValueError(f"must be at most {self.max}, got {v}")
        return v

    def finish(self, values):
        import numpy as np

        lo = -np.inf if self.min is None else self.min
        hi = np.inf if self.max is None else self.max
        return np.clip(values, lo, hi)

    def constraints(self) -> str:
        if self.min is not None and self.max is not None:
            return f"{self.min} .. {self.max}"
        if self.min is not None:
            return f">= {self.min}"
        if self.max is not None:
            return f"<= {self.max}"
        return ""


class Int(_Ranged):
    """A whole number."""

    type_name = "int"
    animatable = True

    def finish(self, values):
        import numpy as np

        return np.clip(np.round(super().finish(values)), -MAX_INT, MAX_INT)

    def scalar(self, row):
        return int(row)

    def parse(self, value, ctx):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_type_label(value)} {_short(value)}")
        if abs(value) > MAX_INT and (self.min is None or self.max is None):
            raise ValueError(f"must be between -2^53 and 2^53, got {value}")
        return self._check_range(value)


class Float(_Ranged):
    """A number; integers are accepted."""

    type_name = "float"
    animatable = True

    def parse(self, value, ctx):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {_type_label(value)} {_short(value)}")
        v = self._check_range(float(value))
        if abs(v) > MAX_FLOAT:
            raise ValueError(f"must be between -1e9 and 1e9, got {v:g}")
        return v

    def finish(self, values):
        import numpy as np

        return np.clip(super().finish(values), -MAX_FLOAT, MAX_FLOAT)


class Bool(Option):
    """true or false."""

    type_name = "bool"

    def parse(self, value, ctx):
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_type_label(value)} {_short(value)}")
        return value


class Str(Option):
    """Free text."""

    type_name = "string"

    def parse(self, value, ctx):
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_type_label(value)} {_short(value)}")
        return value


class Choice(Option):
    """One of a fixed set of strings."""

    type_name = "choice"

    def __init__(self, default=REQUIRED, *, choices: tuple[str, ...], doc=""):
        super().__init__(default, doc=doc)
        self.choices = tuple(choices)

    def parse(self, value, ctx):
        if value not in self.choices:
            hint = difflib.get_close_matches(str(value), self.choices, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ValueError(f"expected one of {', '.join(self.choices)}; got {_short(value)}{extra}")
        return value

    def constraints(self) -> str:
        return " | ".join(self.choices)


_NAMED_COLORS = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "orange": (255, 165, 0),
}


class Color(Option):
    """A colour: ``"#rrggbb"``, ``"#rrggbbaa"``, a name, or ``[r, g, b(, a)]`` in 0..1 (sRGB).

    Parses to a straight (not premultiplied) sRGB-encoded ``(r, g, b, a)`` tuple of floats.
    """

    type_name = "color"
    animatable = True
    components = 4

    def finish(self, values):
        import numpy as np

        return np.clip(values, 0.0, 1.0)

    def scalar(self, row):
        return tuple(float(v) for v in row)

    def parse(self, value, ctx):
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _NAMED_COLORS:
                return tuple(c / 255 for c in _NAMED_COLORS[text]) + (1.0,)
            if text == "transparent":
                return (0.0, 0.0, 0.0, 0.0)
            if re.fullmatch(r"#([0-9a-f]{6}|[0-9a-f]{8})", text):
                digits = [int(text[i : i + 2], 16) / 255 for i in range(1, len(text), 2)]
                return tuple(digits + [1.0] * (4 - len(digits)))
        elif (
            isinstance(value, list)
            and len(value) in (3, 4)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in value)
        ):
            return tuple(float(v) for v in value) + ((1.0,) if len(value) == 3 else ())
        raise ValueError(
            f'expected a colour like "#ff8800", "#ff880080", "white" or [1.0, 0.5, 0.0], got {_short(value)}'
        )


class Vec(Option):
    """A fixed-length list of numbers, such as a position ``[x, y]``."""

    type_name = "vec"

    def __init__(
        self, default=REQUIRED, *, length: int = 2, integer: bool = False, min=None, max=None, doc="", animate=True
    ):
        super().__init__(default, doc=doc, animate=animate)
        self.length, self.integer, self.min, self.max = length, integer, min, max
        self.components = length
        self.type_name = f"[{'int' if integer else 'float'} x {length}]"

    animatable = True

    def finish(self, values):
        import numpy as np

        if self.min is not None:
            values = np.maximum(values, self.min)
        if self.max is not None:
            values = np.minimum(values, self.max)
        return (
            np.clip(np.round(values), -max_size(), max_size())
            if self.integer
            else np.clip(values, -MAX_FLOAT, MAX_FLOAT)
        )

    def scalar(self, row):
        return tuple(int(v) if self.integer else float(v) for v in row)

    def constraints(self) -> str:
        bounds = [f">= {self.min}" if self.min is not None else "", f"<= {self.max}" if self.max is not None else ""]
        return ", ".join(b for b in bounds if b)

    def parse(self, value, ctx):
        kind = int if self.integer else (int, float)
        if (
            not isinstance(value, list)
            or len(value) != self.length
            or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
        ):
            what = "integers" if self.integer else "numbers"
            raise ValueError(f"expected a list of {self.length} {what}, got {_short(value)}")
        if any(isinstance(v, float) and not math.isfinite(v) for v in value):
            raise ValueError(f"expected finite numbers, got {_short(value)}")
        if self.min is not None and any(v < self.min for v in value):
            raise ValueError(f"every value must be at least {self.min}, got {_short(value)}")
        if self.max is not None and any(v > self.max for v in value):
            raise ValueError(f"every value must be at most {self.max}, got {_short(value)}")
        cap = max_size()
        if self.integer and any(abs(v) > cap for v in value):
            raise ValueError(
                f"every value must be at most {cap} (the size limit; set the environment variable "
                f"VFX_MAX_SIZE to raise it), got {_short(value)}"
            )
        if not self.integer and any(abs(v) > MAX_FLOAT for v in value):
            raise ValueError(f"every value must be between -1e9 and 1e9, got {_short(value)}")
        return tuple(int(v) if self.integer else float(v) for v in value)


class Time(Option):
    """A time: frames (``120`` or ``"120f"``), seconds (``"2.5s"``, ``"500ms"``) or ``"00:00:05:12"``.

    Parses to a whole number of frames at the pipeline's frame rate.
    """

    type_name = "time"

    def __init__(self, default=REQUIRED, *, min_frames: int = 0, doc=""):
        super().__init__(default, doc=doc)
        self.min_frames = min_frames

    def parse(self, value, ctx):
        frames = timing.to_frames(value, ctx.fps)
        if frames < self.min_frames:
            raise ValueError(f"must be at least {self.min_frames} frame(s), got {_short(value)}")
        return frames


#: the longest path, and the longest name in it, that file systems take (bytes of UTF-8)
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


def _path(value, ctx: ParseContext) -> Path:
    """A path option's value, relative to the pipeline's folder, checked against file-system limits."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a file path, got {_short(value)}")
    if "\0" in value:
        raise ValueError(f"a path cannot contain a NUL character, got {_short(value)}")
    path = Path(value) if Path(value).is_absolute() else ctx.base_dir / value
    size = len(str(path).encode("utf-8", "surrogateescape"))
    longest = max((len(part.encode("utf-8", "surrogateescape")) for part in path.parts), default=0)
    if size > MAX_PATH_BYTES or longest > MAX_NAME_BYTES:
        raise ValueError(
            f"the path is too long ({size} bytes, a name of {longest}; at most {MAX_PATH_BYTES} "
            f"and {MAX_NAME_BYTES}): {_short(value)}"
        )
    if Path(value).is_absolute():
        return path
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise ValueError(f"cannot resolve {_short(value)}: {exc}") from None


class InputPath(Option):
    """A file that must exist, relative to the pipeline file."""

    type_name = "input path"

    def __init__(self, default=REQUIRED, *, pattern: bool = False, doc=""):
        super().__init__(default, doc=doc)
        self.pattern = pattern

    def parse(self, value, ctx):
        path = _path(value, ctx)
        if not self.pattern and not path.is_file():
            raise ValueError(f"file not found: {path}")
        return path


class OutputPath(Option):
    """A file to write, relative to the pipeline file; its folder is created when rendering."""

    type_name = "output path"

    def parse(self, value, ctx):
        return _path(value, ctx)


_FRAME_FIELD = re.compile(r"%(%|(0?)([0-9]*)d|.?)", re.S)
#: the widest frame field of an image-sequence pattern (%016d)
MAX_FRAME_FIELD = 16


def frame_pattern_error(name: str, last: int = 0) -> str | None:
    """Why ``name`` is not a file name with exactly one frame field (``%d``, ``%4d``, ``%04d``; ``%%``
    is a literal ``%``) that stays a valid name up to frame number ``last``; None when it is."""
    fields = [m for m in _FRAME_FIELD.finditer(name) if m.group(1) != "%"]
    bad = [m.group() for m in fields if not m.group(1).endswith("d")]
    if bad:
        return (
            f"{bad[0]!r} in {name!r} is not a frame field: use %d or %04d for the frame number, and %% for a literal %"
        )
    if len(fields) != 1:
        return f"the file name {name!r} must contain exactly one frame-number field such as %04d, found {len(fields)}"
    width = fields[0].group(3)
    if width and int(width) > MAX_FRAME_FIELD:
        return f"the frame field {fields[0].group()!r} is wider than {MAX_FRAME_FIELD} digits"
    longest = len((name % last).encode())
    if longest > MAX_NAME_BYTES:
        return f"the file names would be {longest} bytes long; a file name is at most {MAX_NAME_BYTES}"
    return None


class Input(Option):
    """A reference to another node by id, whose video or audio this node consumes."""

    type_name = "node"

    def __init__(self, default=REQUIRED, *, kind: str = "video", doc=""):
        super().__init__(default, doc=doc)
        assert kind in ("video", "audio")
        self.kind = kind
        self.type_name = f"{kind} node"

    def parse(self, value, ctx):
        if not isinstance(value, str) or not value:
            raise ValueError(f"expected the id of a node with {self.kind}, got {_short(value)}")
        return value

    def refs(self, parsed) -> list[str]:
        return [parsed] if parsed else []


class Inputs(Input):
    """A list of node ids."""

    def __init__(self, default=REQUIRED, *, kind: str = "video", min_count: int = 1, doc=""):
        super().__init__(default, kind=kind, doc=doc)
        self.min_count = min_count
        self.type_name = f"list of {kind} nodes"

    def parse(self, value, ctx):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"expected a list of node ids, got {_short(value)}")
        if len(value) < self.min_count:
            raise ValueError(f"expected at least {self.min_count} node ids, got {len(value)}")
        return list(value)

    def refs(self, parsed) -> list[str]:
        return list(parsed or [])


class Table(Option):
    """A list of tables with a schema of their own (such as composite layers).

    A plain string stands for ``{<shorthand> = "string"}``.
    """

    type_name = "list of tables"

    def __init__(
        self, item: type["Options"], default=REQUIRED, *, shorthand: str | None = None, min_count: int = 1, doc=""
    ):
        super().__init__(default, doc=doc)
        self.item, self.shorthand, self.min_count = item, shorthand, min_count

    def parse(self, value, ctx):
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {_type_label(value)}")
        if len(value) < self.min_count:
            raise ValueError(f"expected at least {self.min_count} entries, got {len(value)}")
        out = []
        for i, entry in enumerate(value):
            if isinstance(entry, str) and self.shorthand:
                entry = {self.shorthand: entry}
            if not isinstance(entry, dict):
                raise ValueError(f"entry {i + 1}: expected a table or a node id, got {entry!r}")
            try:
                out.append(self.item.from_mapping(entry, ctx))
            except OptionError as exc:
                first = exc.errors[0]
                raise ValueError(f"entry {i + 1}, '{first[0]}': {first[1]}") from None
        return out

    def refs(self, parsed) -> list[str]:
        return [ref for entry in parsed or [] for ref in entry.input_refs()]

    def describe(self) -> dict:
        out = super().describe()
        out["fields"] = self.item.describe()
        return out


class Animated:
    """An option's animation (``vfx.params.Animation``) with the option that bounds its values."""

    __slots__ = ("animation", "option")

    def __init__(self, animation, option: Option):
        self.animation, self.option = animation, option

    def evaluate(self, frames, fps):
        """One row per frame, clamped/rounded into the option's domain (float64 NumPy)."""
        import numpy as np

        values = self.animation.evaluate(np.asarray(frames), fps)
        k = self.option.components
        if k > 1 and values.ndim == 1:  # one expression or driver for every component
            values = np.repeat(values[:, None], k, axis=1)
            if isinstance(self.option, Color):
                values[:, 3] = 1.0  # ... of the colour, not of its alpha
        return self.option.finish(values)

    def at(self, frame: int, fps):
        return self.option.scalar(self.evaluate([frame], fps)[0])

    def __repr__(self):
        return f"Animated({type(self.animation).__name__})"


class Options:
    """Base of every node's option schema; subclasses list ``Option`` attributes."""

    _fields: ClassVar[dict[str, Option]] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        fields: dict[str, Option] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Option):
                    fields[name] = value
        cls._fields = fields

    def __init__(self, **values):
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def fields(cls) -> dict[str, Option]:
        return dict(cls._fields)

    @classmethod
    def defaults(cls, ctx: ParseContext | None = None) -> dict[str, Any]:
        """Every option's default value, parsed (``None`` for a required option)."""
        ctx = ctx or ParseContext()
        return {name: field.default_value(ctx) for name, field in cls.fields().items()}

    @classmethod
    def from_mapping(cls, raw: dict, ctx: ParseContext) -> "Options":
        """Parse every field; collect all problems and raise them together as ``OptionError``."""
        errors: list[tuple[str, str]] = []
        values = {}
        for key in raw:
            if key not in cls._fields:
                hint = difflib.get_close_matches(key, list(cls._fields), n=1)
                errors.append(
                    (
                        key,
                        "unknown option"
                        + (f" (did you mean '{hint[0]}'?)" if hint else f"; known: {', '.join(cls._fields) or 'none'}"),
                    )
                )
        for name, field in cls._fields.items():
            try:
                if name in raw:
                    values[name] = field.parse_any(raw[name], ctx)
                elif field.required:
                    errors.append((name, f"missing required option ({field.type_name}: {field.doc})"))
                else:
                    values[name] = field.default_value(ctx)
            except (ValueError, OSError) as exc:  # OSError: a path the system cannot take
                errors.append((name, str(exc)))
        if errors:
            raise OptionError(errors)
        return cls(**values)

    def input_refs(self) -> list[str]:
        """Every node id this option set refers to, in declaration order (drivers included)."""
        refs = []
        for name, field in self._fields.items():
            value = getattr(self, name, None)
            if isinstance(field, (Input, Table)):
                refs.extend(field.refs(value))
            elif isinstance(value, Animated):
                refs.extend(value.animation.refs())
        return refs

    def animations(self) -> list["Animated"]:
        """Every animated value here and in nested tables."""
        found = []
        for name, field in self._fields.items():
            value = getattr(self, name, None)
            if isinstance(value, Animated):
                found.append(value)
            elif isinstance(field, Table):
                for entry in value or []:
                    found.extend(entry.animations())
        return found

    def at(self, frame: int, fps) -> "Options":
        """A copy with every animated value replaced by its plain value at ``frame``."""
        values = {}
        for name, field in self._fields.items():
            value = getattr(self, name, None)
            if isinstance(value, Animated):
                value = value.at(frame, fps)
            elif isinstance(field, Table) and value:
                value = [entry.at(frame, fps) for entry in value]
            values[name] = value
        return type(self)(**values)

    @classmethod
    def describe(cls) -> list[dict]:
        return [field.describe() for field in cls._fields.values()]

    def __repr__(self):
        inner = ", ".join(f"{k}={getattr(self, k, None)!r}" for k in self._fields)
        return f"{type(self).__name__}({inner})"
