"""A safe YAML reader that keeps ``line:column`` for every node.

It builds plain data from PyYAML's *event* stream (libyaml's C parser when available), in one
iterative loop, so that:
- only plain data exists: maps, lists, str, int, float, bool, None; any tag other than the
  standard scalar/collection tags (``!!python/object``, ``!custom``) is an error;
- duplicate keys are errors; ``<<`` merge keys are supported;
- nesting depth is bounded and alias expansion is budgeted (a billion-laughs file is refused
  after reading it once, before anything walks it);
- YAML 1.1 surprises are resolved as users expect: ``1e-5`` is a float, only true/false are
  booleans (``no`` stays the string ``"no"``), ``010`` is 10.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import yaml

from convshape.errors import ErrorContext, Location, YamlError

try:  # the C parser is ~10x faster
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - pure-Python PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_DEPTH = 64
MAX_NODES = 200_000  # after alias expansion
MAX_BYTES = 5_000_000
MAX_INT = 2**63 - 1  # torch sizes are int64

_STD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {None, "!", *(_STD + t for t in ("str", "int", "float", "bool", "null"))}
_COLLECTION_TAGS = {None, "!", _STD + "map", _STD + "seq"}
_INT = re.compile(r"[-+]?[0-9][0-9_]*")
_FLOAT = re.compile(r"[-+]?(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?")
_SPECIAL = {
    ".inf": float("inf"),
    "+.inf": float("inf"),
    "-.inf": float("-inf"),
    ".nan": float("nan"),
}


class YMap(dict[str, Any]):
    """A mapping with the location of itself, of each key and of each value."""

    loc: Location
    key_locs: dict[str, Location]
    value_locs: dict[str, Location]


class YList(list[Any]):
    """A sequence with the location of itself and of each item."""

    loc: Location
    item_locs: list[Location]


_EXPR = re.compile(r"\$\{[^{}\n]*\}")
_SCALAR_START = ":,[{-"
_SCALAR_END = ",]}#"
Shifts = dict[int, list[int]]  # 0-based line -> columns (after quoting) where a quote was added


def loc_of(mark: Any, file: str, shifts: Shifts | None = None) -> Location:
    column = mark.column
    if shifts and mark.line in shifts:
        column -= sum(1 for added in shifts[mark.line] if added < column)
    return Location(file, mark.line + 1, column + 1)


def _neighbour(line: str, i: int, step: int) -> str:
    """The nearest non-space character before (step -1) or after (step 1) index i, or ''."""
    while 0 <= i < len(line):
        if not line[i].isspace():
            return line[i]
        i += step
    return ""


def _quote_line(line: str) -> tuple[str, list[int]]:
    out: list[str] = []
    added: list[int] = []
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"" and _neighbour(line, i - 1, -1) in ("", *_SCALAR_START):
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            out.append(line[i:])
            break
        elif c == "$" and _neighbour(line, i - 1, -1) in ("", *_SCALAR_START):
            m = _EXPR.match(line, i)
            if m and _neighbour(line, m.end(), 1) in ("", *_SCALAR_END):
                start = sum(map(len, out))
                added += [start, start + len(m.group()) + 1]
                out.append(f'"{m.group()}"')
                i = m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out), added


def quote_expressions(text: str) -> tuple[str, Shifts]:
    """Quote each ``${...}`` that is a whole plain scalar, so ``{c: ${w * 2}}`` is valid YAML.

    In a flow mapping ``{`` and ``}`` are syntax; quoting keeps the DESIGN's notation working.
    The returned shifts map columns back to the user's text for error locations.
    """
    if "${" not in text:
        return text, {}
    lines = text.split("\n")
    shifts: Shifts = {}
    for n, line in enumerate(lines):
        if "${" in line:
            lines[n], added = _quote_line(line)
            if added:
                shifts[n] = added
    return "\n".join(lines), shifts


def _scalar(event: yaml.ScalarEvent, file: str) -> Any:
    if event.tag not in _ALLOWED_TAGS:
        raise YamlError(f"tag {event.tag} is not allowed: convshape reads plain data only")
    text = event.value
    if event.style or event.tag == _STD + "str":  # quoted or !!str: a string
        return text
    if event.tag == _STD + "null" or text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.fullmatch(text):
        return _int(text)
    if _FLOAT.fullmatch(text) and any(c.isdigit() for c in text):
        return float(text.replace("_", ""))
    return _SPECIAL.get(text.lower(), text)


def _int(text: str) -> int:
    """An integer literal, refused past 64 bits before Python converts it (no 10**5000)."""
    digits = text.replace("_", "").lstrip("+-").lstrip("0")
    value = int(text.replace("_", "")) if len(digits) <= len(str(MAX_INT)) else None
    if value is None or abs(value) > MAX_INT:
        shown = text if len(text) <= 30 else f"{text[:20]}... ({len(digits)} digits)"
        raise YamlError(f"integer {shown} is out of range: convshape reads 64-bit integers")
    return value


def _ctx(mark: Any, file: str, shifts: Shifts | None = None) -> ErrorContext:
    return ErrorContext(location=loc_of(mark, file, shifts))


class _Builder:
    """Folds the event stream into YMap/YList/scalars, with the safety limits."""

    def __init__(self, file: str, shifts: Shifts | None = None) -> None:
        self.file = file
        self.shifts = shifts
        self.anchors: dict[str, tuple[Any, int]] = {}  # value, expanded node count
        self.stack: list[list[Any]] = []  # [container, size, anchor, pending key]
        self.nodes = 0
        self.root: Any = None
        self.done = False

    def _add(self, value: Any, size: int, mark: Any) -> None:
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise YamlError(
                f"the document expands to more than {MAX_NODES:,} nodes "
                "(alias expansion bomb?); refusing to read it",
                context=_ctx(mark, self.file, self.shifts),
            )
        if not self.stack:
            self.root, self.done = value, True
            return
        frame = self.stack[-1]
        container = frame[0]
        frame[1] += size
        here = loc_of(mark, self.file, self.shifts)
        if isinstance(container, YList):
            container.append(value)
            container.item_locs.append(here)
        elif frame[3] is None:
            frame[3] = (value, here)  # a key; its value comes next
        else:
            key, key_loc = frame[3]
            frame[3] = None
            self._set(container, key, key_loc, value, here)

    def _set(self, m: YMap, key: Any, key_loc: Location, value: Any, here: Location) -> None:
        if key == "<<" and isinstance(value, YMap | YList):
            for part in value if isinstance(value, YList) else [value]:
                for k, v in part.items() if isinstance(part, YMap) else []:
                    if k not in m:
                        m[k], m.key_locs[k], m.value_locs[k] = v, key_loc, part.value_locs[k]
            return
        if not isinstance(key, str | int | float | bool) or isinstance(key, bool):
            raise YamlError("mapping keys must be plain strings", context=_at(key_loc))
        key = str(key)
        if key in m:
            first = m.key_locs[key]
            raise YamlError(
                f"duplicate key '{key}' (first at line {first.line}, column {first.column})",
                context=_at(key_loc),
            )
        m[key], m.key_locs[key], m.value_locs[key] = value, key_loc, here

    def _open(self, container: YMap | YList, event: Any) -> None:
        if event.tag not in _COLLECTION_TAGS:
            raise YamlError(
                f"tag {event.tag} is not allowed: convshape reads plain data only",
                context=_ctx(event.start_mark, self.file, self.shifts),
            )
        if len(self.stack) >= MAX_DEPTH:
            raise YamlError(
                f"nesting deeper than {MAX_DEPTH} levels",
                context=_ctx(event.start_mark, self.file, self.shifts),
            )
        container.loc = loc_of(event.start_mark, self.file, self.shifts)
        self.stack.append([container, 1, event.anchor, None, event.start_mark])

    def feed(self, event: Any) -> None:
        if isinstance(event, yaml.ScalarEvent):
            try:
                value = _scalar(event, self.file)
            except YamlError as exc:
                raise exc.located(
                    location=loc_of(event.start_mark, self.file, self.shifts)
                ) from None
            if event.anchor:
                self.anchors[event.anchor] = (value, 1)
            self._add(value, 1, event.start_mark)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise YamlError(
                    f"alias *{event.anchor} refers to an anchor that is not complete here",
                    context=_ctx(event.start_mark, self.file, self.shifts),
                )
            value, size = self.anchors[event.anchor]
            self._add(value, size, event.start_mark)
        elif isinstance(event, yaml.MappingStartEvent):
            ymap = YMap()
            ymap.key_locs, ymap.value_locs = {}, {}
            self._open(ymap, event)
        elif isinstance(event, yaml.SequenceStartEvent):
            ylist = YList()
            ylist.item_locs = []
            self._open(ylist, event)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            container, size, anchor, _, mark = self.stack.pop()
            self.nodes -= size - 1  # children were counted as they came in
            if anchor:
                self.anchors[anchor] = (container, size)
            self._add(container, size, mark)
        elif isinstance(event, yaml.DocumentStartEvent) and self.done:
            raise YamlError(
                "a spec file holds one YAML document; found a second '---'",
                context=_ctx(event.start_mark, self.file, self.shifts),
            )


def _at(loc: Location) -> ErrorContext:
    return ErrorContext(location=loc)


def parse_text(text: str, file: str) -> Any:
    """The document's plain data (YMap / YList / scalar), or a located :class:`YamlError`."""
    text, shifts = quote_expressions(text)
    try:
        return _fold(text, file, shifts, _Loader)
    except _ScannerDepth:
        # libyaml >= 0.2.5 (bundled by PyYAML 6.0.4) stops its look-ahead scanner at nesting
        # depth 1000 with its own message, before a single event reaches MAX_DEPTH here. The
        # pure-Python parser has no such limit and looks ahead at most 1024 characters, so it
        # hands us the events that cross MAX_DEPTH, and the message stays ours and located.
        return _fold(text, file, shifts, yaml.SafeLoader)


class _ScannerDepth(Exception):
    """libyaml refused a nesting depth before convshape could (see :func:`parse_text`)."""


def _fold(text: str, file: str, shifts: Shifts, loader: Any) -> Any:
    builder = _Builder(file, shifts)
    try:
        for event in yaml.parse(text, Loader=loader):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = (exc.problem or exc.context or "invalid YAML").strip()
        if "maximum nesting depth" in message and loader is not yaml.SafeLoader:
            raise _ScannerDepth from None
        context = _ctx(mark, file, shifts) if mark else None
        hint = None
        lines = text.split("\n")
        if mark and mark.line < len(lines) and "${" in lines[mark.line]:  # the end: past them
            hint = 'inside {...}, quote a string that contains ${...}: name: "conv${i}"'
        raise YamlError(f"invalid YAML: {message}", context=context, hint=hint) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from None
    return builder.root


def read_file(path: str | Path) -> str:
    """The text of a spec file, with a clear message for every way that can fail.

    The messages do not repeat the path: the caller (the CLI, the JSON report) names the file.
    """
    where = _at(Location(str(path), 1, 1))
    try:
        data = _read_bytes(Path(path))
    except YamlError as exc:
        raise exc.located(file=str(path)) from None
    if b"\0" in data:
        raise YamlError("this is a binary file, not YAML text", context=where)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", context=where
        ) from None


def _read_bytes(p: Path) -> bytes:
    try:
        mode = p.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise YamlError("no such file") from None
    except OSError as exc:  # too long a name, a symlink loop, no permission on a folder
        raise YamlError(f"cannot read: {exc.strerror or exc}") from None
    except ValueError:  # an embedded NUL byte
        raise YamlError("not a valid file name") from None
    if stat.S_ISDIR(mode):
        raise YamlError("is a directory, not a spec file")
    if not stat.S_ISREG(mode):  # a FIFO would hang, /dev/zero would never end
        raise YamlError("not a regular file (a device, pipe or socket?)")
    try:
        with p.open("rb") as f:
            data = f.read(MAX_BYTES + 1)  # bounded, even if the file grows while read
    except OSError as exc:
        raise YamlError(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise YamlError(f"file is over {MAX_BYTES:,} bytes, the limit for a spec file")
    return data


def load_yaml(path: str | Path) -> Any:
    return parse_text(read_file(path), str(path))
