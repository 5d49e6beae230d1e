"""Settings declared once: a `knob()` field holds its default, how its TOML value is read, its bounds or choices
and its help; `read_table()` fills a settings dataclass from a TOML table over its `fields()`, naming the
file, the line and the dotted key of the first wrong value."""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from auditor.errors import ConfigError
from auditor.jsonable import jsonable

T = TypeVar("T")
Rule = Callable[[Any], str | None]  # a further test of a value read: why it is wrong, or None


@dataclass(frozen=True)
class Knob:
    """How one setting is read: its kind (a key of KINDS), bounds, choices, a further rule, and its help."""

    kind: str
    help: str
    within: tuple[float, float] | None = None  # bounds of the value, or of each element of a list
    choices: tuple[str, ...] = ()  # allowed strings: the value, each element, or a word in place of a value
    rule: Rule | None = None
    output: bool = False  # an output option: left out of the config digest
    added: bool = False  # added after the digest was first published: left out of it while at its default


def knob(
    default: Any,
    kind: str,
    help: str,
    *,
    within: tuple[float, float] | None = None,
    choices: tuple[str, ...] = (),
    rule: Rule | None = None,
    output: bool = False,
    added: bool = False,
) -> Any:
    """A setting: a dataclass field (`default` MISSING: required) with its reading in the metadata."""
    return field(default=default, metadata={"knob": Knob(kind, help, within, choices, rule, output, added)})


def table(cls: type[Any], default: Any = None, needs: str = "") -> Any:
    """A nested TOML table read into `cls`; `default` MISSING: required, and `needs` says with what."""
    return field(default=default, metadata={"table": cls, "needs": needs})


def settings_fields(cls: type[Any]) -> list[Field[Any]]:
    """The fields of a settings dataclass that are TOML keys (knobs and tables), in declaration order."""
    return [f for f in fields(cls) if "knob" in f.metadata or "table" in f.metadata]


def _knob(spec: Field[Any]) -> Knob:
    return spec.metadata.get("knob", Knob("table", ""))


def plain(obj: Any, digest: bool = False) -> Any:
    """Settings as JSON-ready values (paths as given, tuples as lists, see `jsonable`); `digest` leaves output
    options out, and settings added later while at their default (an older config keeps its digest)."""
    if hasattr(obj, "__dataclass_fields__"):
        kept = [
            f
            for f in settings_fields(type(obj))
            if not (digest and (_knob(f).output or (_knob(f).added and getattr(obj, f.name) == f.default)))
        ]
        return {f.name: plain(getattr(obj, f.name), digest) for f in kept}
    return jsonable(obj)


class Source:
    """A config file's text, for errors that name the file and the line of a dotted key."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.base, self.lines = path, path.parent, text.splitlines()

    def fail(self, dotted: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}:{self.line_of(dotted)}: '{dotted}' {message}")

    def line_of(self, dotted: str) -> int:
        """1-based line of a dotted key: its own [header], else the key inside its table, else anywhere."""
        table_name, _, key = dotted.rpartition(".")
        headers = [
            (i, m.group(1).replace(" ", ""))
            for i, line in enumerate(self.lines)
            if (m := _HEADER.match(line))
        ]
        own = [i for i, name in headers if name == dotted]
        if own:
            return own[0] + 1
        key_re = re.compile(rf"^\s*(?:[\w\"'-]+\s*\.\s*)*[\"']?{re.escape(key)}[\"']?\s*=")
        inline_re = re.compile(rf"[{{,]\s*[\"']?{re.escape(key)}[\"']?\s*=")
        ends = [i for i, _ in headers] + [len(self.lines)]
        found = [(i, ends[ends.index(i) + 1]) for i, name in headers if name == table_name]
        if not table_name:
            span = range(0, ends[0])
        else:
            span = range(found[0][0] + 1, found[0][1]) if found else range(0)
        for i in [*span, *range(len(self.lines))]:
            if key_re.match(self.lines[i]) or inline_re.search(self.lines[i]):
                return i + 1
        return found[0][0] + 1 if found else 1

    @classmethod
    def read(cls, path: Path, what: str) -> tuple[Source, dict[str, Any]]:
        """A TOML file's source and its tables; ConfigError naming the file for a missing, unreadable or
        malformed one (`what`: the file's role, e.g. "config file")."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such {what}; check the path") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the {what} ({exc})") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        return cls(path, text), raw


def read_table(source: Source, cls: type[T], raw: Any, dotted: str = "") -> T:
    """`cls` from a parsed TOML table: unknown keys refused, each knob read and checked, nested tables recursed."""
    if not isinstance(raw, dict):
        raise source.fail(dotted, "must be a table")
    known = {f.name: f for f in settings_fields(cls)}
    for key in raw:
        if key not in known:
            raise source.fail(_join(dotted, key), f"is not a known key (known: {', '.join(known)})")
    values: dict[str, Any] = {}
    for name, spec in known.items():
        key, nested = _join(dotted, name), spec.metadata.get("table")
        if name in raw and nested:
            values[name] = read_table(source, nested, raw[name], key)
        elif name in raw:
            values[name] = _read_value(source, _knob(spec), raw[name], key, spec.default)
        elif spec.default is MISSING and nested:
            raise ConfigError(f"{source.path}:1: '[{key}]' table is required ({spec.metadata['needs']})")
        elif spec.default is MISSING:
            where = " (a path relative to this file)" if _knob(spec).kind in PATHS else ""
            raise source.fail(key, f"is required{where}")
    return cls(**values)


def _join(dotted: str, key: str) -> str:
    return f"{dotted}.{key}" if dotted else key


def _read_value(source: Source, spec: Knob, raw: Any, dotted: str, default: Any) -> Any:
    """One TOML value read as its knob says: of its kind (or a word among its choices), in bounds, by its rule."""
    kind = "str" if _word(spec, raw) else spec.kind
    words, accepts = KINDS[kind]
    if not accepts(raw):
        raise source.fail(dotted, f"must be {words}, got {_describe(raw)}")
    value: Any = (
        float(raw)
        if kind in ("float", "frac") or (kind in ("scale", "floats") and not isinstance(raw, list))
        else tuple(map(float, raw))
        if kind in ("pair", "scale", "floats")
        else raw
    )
    if kind == "floats" and isinstance(value, float):
        value = (value,)
    elif kind == "side" and not isinstance(value, list):
        value = (value, value)  # one number: a square
    value = tuple(value) if isinstance(value, list) else value
    problem = _problem(spec, kind, value, dotted.rpartition(".")[2])
    if problem:
        raise source.fail(dotted, problem)
    return _path(source, dotted, kind, value, default) if kind in PATHS else value


def _word(spec: Knob, raw: Any) -> bool:
    """Whether `raw` is read as one of the knob's words in place of a value of its kind: anything but a number
    for a number knob (target = "second"), the very word for a list knob (classes = "all")."""
    if not spec.choices or spec.kind in ("str", "strs"):
        return False
    if spec.kind in ("int", "float"):
        return not (_int(raw) or (spec.kind == "float" and isinstance(raw, float)))
    return isinstance(raw, str) and raw in spec.choices


def _problem(spec: Knob, kind: str, value: Any, key: str) -> str | None:
    """Why a value of the right kind is still wrong: not among the choices, out of bounds, or against the rule."""
    if kind == "str" and spec.choices and value not in spec.choices:
        return f"must be one of {', '.join(spec.choices)}, got {value!r}"
    unknown = [item for item in value if item not in spec.choices] if kind == "strs" and spec.choices else []
    if unknown:  # a list knob is named in the plural: formats, methods
        return f"holds unknown {key.removesuffix('s')} {unknown[0]!r} (known: {', '.join(spec.choices)})"
    if spec.within is not None and kind != "str":
        low, high = spec.within
        numbers = [n for n in (value if isinstance(value, tuple) else (value,)) if not isinstance(n, str)]
        outside = [n for n in numbers if not low <= n <= high]  # a class given by name has no bounds
        if outside:
            words = "each value" if isinstance(value, tuple) else "the value"
            return (
                f"is out of range: {words} must be from {_num(low)} to {_num(high)}, got {_num(outside[0])}"
            )
    return spec.rule(value) if spec.rule is not None and kind == spec.kind else None


def _path(source: Source, dotted: str, kind: str, value: str, default: Any) -> Path:
    """A path relative to the config file; a file to read must exist (and be a file unless a folder may do)."""
    if kind == "out":
        return source.base / value if value else default
    path = Path(value) if Path(value).is_absolute() else source.base / value
    if not path.exists():
        raise source.fail(dotted, f"points to {path}, which does not exist")
    if path.is_dir() and kind == "file":
        raise source.fail(dotted, f"points to {path}, which is a folder; give the path of a file")
    return path


def _num(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _describe(value: Any) -> str:
    name = _TYPE_WORDS.get(type(value), type(value).__name__)
    return f"{name} ({json.dumps(value, default=str)[:40]})"


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return (_int(value) or isinstance(value, float)) and math.isfinite(value)


def _class(value: Any) -> bool:
    """A class index or a class name (resolved once the class names are known)."""
    return _int(value) or (isinstance(value, str) and bool(value.strip()))


def _listed(test: Callable[[Any], bool], sizes: range = range(0, 2**63)) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and len(value) in sizes and all(test(v) for v in value)


_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_TYPE_WORDS = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a table",
}
PATHS = ("file", "file_or_folder", "out")  # paths relative to the config file; "out" need not exist yet
KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {  # kind -> (what a value must be, its test)
    "str": ("a string", lambda v: isinstance(v, str)),
    "int": ("an integer", _int),
    "pos": ("a positive integer", lambda v: _int(v) and v > 0),
    "float": ("a finite number", _finite),
    "frac": ("a number between 0 and 1", lambda v: _finite(v) and 0.0 <= v <= 1.0),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "strs": ("a list of strings", _listed(lambda v: isinstance(v, str))),
    "ints": ("a list of integers", _listed(_int)),
    "class": ("a class index or a class name", _class),
    "classes": ("a list of class indices or names", _listed(_class)),
    "shape": ("a list of positive integers", _listed(lambda v: _int(v) and v > 0, range(1, 2**63))),
    "size": ("a list of two positive integers", _listed(lambda v: _int(v) and v > 0, range(2, 3))),
    "pair": ("a list of two finite numbers", _listed(_finite, range(2, 3))),
    "scale": (
        "a number or a list of two finite numbers",
        lambda v: _finite(v) or _listed(_finite, range(2, 3))(v),
    ),
    "floats": (
        "a number or a list of 1 to 3 finite numbers",
        lambda v: _finite(v) or _listed(_finite, range(1, 4))(v),
    ),
    "side": (
        "a positive integer or a list of two",
        lambda v: (_int(v) and v > 0) or _listed(lambda e: _int(e) and e > 0, range(2, 3))(v),
    ),
    **dict.fromkeys(PATHS, ("a string", lambda v: isinstance(v, str))),
}
