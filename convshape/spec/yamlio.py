"""A safe YAML reader that keeps ``line:column`` for every node.

It builds plain data from PyYAML's *event* stream (libyaml's C parser when available), in one
iterative loop, so that:
- only plain data exists: maps, lists, str, int, float, bool, None; any tag other than the
  standard scalar/collection tags (``!!python/object``, ``!custom``) is an error;
- duplicate keys are errors; ``<<`` merge keys are supported;
- nesting depth is bounded and alias expansion is budgeted (a billion-laughs file is refused
  after reading it once, before anything walks it);
- YAML 1.1 surprises are resolved as users expect: ``1e-5`` is a float, only true/false are
  booleans (``no`` stays the string ``"no"``), ``010`` is 10; an explicit standard tag is
  honoured (``!!int "8"`` is 8, ``!!str 8`` is ``"8"``);
- line numbers are those of an editor that breaks lines on ``\n`` only: U+2028, U+2029 and
  U+0085, which PyYAML (YAML 1.1) takes for line breaks, are ordinary characters, as in YAML 1.2;
- the work is linear in the size of the text, however many ``${...}`` a line holds.
"""

from __future__ import annotations

import re
import stat
from bisect import bisect_left
from itertools import chain
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
MAX_TEXT = MAX_BYTES  # characters of strings after alias expansion: no more than a file holds
MAX_INT = 2**63 - 1  # torch sizes are int64

_STD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {None, "!", *(_STD + t for t in ("str", "int", "float", "bool", "null"))}
_COLLECTION_TAGS = {None, "!", _STD + "map", _STD + "seq"}
_INT = re.compile(r"[-+]?[0-9][0-9_]*")
# one way to match each text (no ``[0-9_]*\.?[0-9_]*``): "1111...1x" fails in linear time
_FLOAT = re.compile(r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?")
_BASED_INT = re.compile(r"([-+]?)0([xob])([0-9a-fA-F_]+)")  # !!int 0x1F, 0o17 (1.2), 0b101 (1.1)
_BASES = {"x": 16, "o": 8, "b": 2}
_BOOLS = {  # YAML 1.2 core, and the 1.1 words, for an explicit !!bool only
    **dict.fromkeys(
        ("true", "True", "TRUE", "yes", "Yes", "YES", "y", "Y", "on", "On", "ON"), True
    ),
    **dict.fromkeys(
        ("false", "False", "FALSE", "no", "No", "NO", "n", "N", "off", "Off", "OFF"), False
    ),
}
_NULLS = ("", "~", "null", "Null", "NULL")
_SPECIAL = {
    ".inf": float("inf"),
    "+.inf": float("inf"),
    "-.inf": float("-inf"),
    ".nan": float("nan"),
}


class YMap(dict[str, Any]):
    """A mapping with the location of itself, of each key and of each value.

    The reader also sets ``nodes`` and ``chars`` (nodes, and characters of its strings, after
    alias expansion) and ``depth`` (levels of nesting): substitution keeps a value it builds
    from these within the same budgets.
    """

    loc: Location
    key_locs: dict[str, Location]
    value_locs: dict[str, Location]
    nodes: int
    depth: int
    chars: int


class YList(list[Any]):
    """A sequence with the location of itself and of each item (and ``nodes``, ``depth``,
    ``chars`` as a :class:`YMap`)."""

    loc: Location
    item_locs: list[Location]
    nodes: int
    depth: int
    chars: int


_EXPR = re.compile(r"\$\{[^{}\n]*\}")
_SPECIAL_CHAR = re.compile(r"[$#'\"]")  # what _quote_line looks at
_SCALAR_START = ":,[{-"
_SCALAR_END = ",]}#"
Shifts = dict[int, list[int]]  # 0-based line -> columns (after quoting) where a quote was added
Restore = dict[int, int] | None  # str.translate table: stand-in character -> the user's
_BREAKS = "\u2028\u2029\x85"  # line breaks to YAML 1.1 (PyYAML), not to YAML 1.2 or editors
_PRIVATE_USE = (range(0xE000, 0xF900), range(0xF0000, 0xFFFFE))  # printable to YAML


def loc_of(mark: Any, file: str, shifts: Shifts | None = None) -> Location:
    column = mark.column
    if shifts and mark.line in shifts:
        column -= bisect_left(shifts[mark.line], column)  # the quotes added before it (sorted)
    return Location(file, mark.line + 1, column + 1)


def _neighbour(line: str, i: int, step: int) -> str:
    """The nearest non-space character before (step -1) or after (step 1) index i, or ''."""
    while 0 <= i < len(line):
        if not line[i].isspace():
            return line[i]
        i += step
    return ""


def _quote_line(line: str) -> tuple[str, list[int]]:
    """The line with each whole-scalar ``${...}`` quoted, and the columns of the added quotes.

    Linear in the line's length: a regex jumps from one quote, ``#`` or ``$`` to the next, a
    quoted part is skipped with one ``find``, the text is copied in runs with the output length
    counted as it grows, and each neighbour scan crosses only the blanks next to a scalar.
    """
    out: list[str] = []
    added: list[int] = []
    size = 0  # len("".join(out)), kept as it grows
    copied = 0  # line[copied:i] is still to copy
    i = 0
    while (found := _SPECIAL_CHAR.search(line, i)) is not None:
        i = found.start()
        c = line[i]
        if c == "#":
            if i == 0 or line[i - 1].isspace():
                break  # a comment: copied as it is
        elif _neighbour(line, i - 1, -1) in ("", *_SCALAR_START):
            if c != "$":  # a quoted scalar: skip to its closing quote
                end = line.find(c, i + 1)
                if end < 0:
                    break
                i = end + 1
                continue
            m = _EXPR.match(line, i)
            if m and _neighbour(line, m.end(), 1) in ("", *_SCALAR_END):
                out.append(line[copied:i])
                size += i - copied
                added += [size, size + len(m.group()) + 1]
                out.append(f'"{m.group()}"')
                size += len(m.group()) + 2
                i = copied = m.end()
                continue
        i += 1
    out.append(line[copied:])
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


def _scalar(event: yaml.ScalarEvent, text: str) -> Any:
    """The value of a scalar whose (restored) text is ``text``."""
    tag = event.tag
    if tag not in _ALLOWED_TAGS:
        raise YamlError(f"tag {tag} is not allowed: convshape reads plain data only")
    if tag not in (None, "!"):  # an explicit standard tag: that type, quoted or not
        return _tagged(tag.removeprefix(_STD), text)
    if event.style:  # quoted: a string
        return text
    if text in _NULLS:
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


def _tagged(kind: str, text: str) -> Any:
    """``!!str``, ``!!int``, ``!!float``, ``!!bool`` or ``!!null`` applied to ``text``."""
    if kind == "str":
        return text
    if kind == "null" and text in _NULLS:
        return None
    if kind == "bool" and text in _BOOLS:
        return _BOOLS[text]
    if kind == "int" and _INT.fullmatch(text):
        return _int(text)
    if kind == "int" and (based := _BASED_INT.fullmatch(text)):
        return _based_int(text, *based.groups())
    if kind == "float" and text.lower() in _SPECIAL:
        return _SPECIAL[text.lower()]
    if kind == "float" and _FLOAT.fullmatch(text) and any(c.isdigit() for c in text):
        return float(text.replace("_", ""))
    noun = {"int": "an integer", "float": "a number", "bool": "true or false", "null": "null"}
    shown = text if len(text) <= 30 else f"{text[:20]}... ({len(text)} characters)"
    raise YamlError(f"!!{kind} {shown!r} is not {noun[kind]}")


def _int(text: str) -> int:
    """An integer literal, refused past 64 bits before Python converts it (no 10**5000).

    Only the significant digits are converted: ``000...0003`` (thousands of zeros) is 3, not
    Python's "exceeds the limit (4300 digits)".
    """
    digits = text.replace("_", "").lstrip("+-").lstrip("0")
    sign = -1 if text.startswith("-") else 1
    value = sign * int(digits or "0") if len(digits) <= len(str(MAX_INT)) else None
    if value is None or abs(value) > MAX_INT:
        shown = text if len(text) <= 30 else f"{text[:20]}... ({len(digits)} digits)"
        raise YamlError(f"integer {shown} is out of range: convshape reads 64-bit integers")
    return value


def _based_int(text: str, sign: str, base: str, body: str) -> int:
    """``!!int 0x1F`` (or 0o, 0b): 64-bit, digits checked before conversion."""
    digits = body.replace("_", "").lstrip("0") or "0"
    try:
        value = int(digits, _BASES[base]) if len(digits) <= 64 else None
    except ValueError:  # 0b2, 0o9, 0oF
        raise YamlError(f"!!int {text!r} is not an integer") from None
    if value is None or value > MAX_INT:
        shown = text if len(text) <= 30 else f"{text[:20]}... ({len(digits)} digits)"
        raise YamlError(f"integer {shown} is out of range: convshape reads 64-bit integers")
    return -value if sign == "-" else value


def _ctx(mark: Any, file: str, shifts: Shifts | None = None) -> ErrorContext:
    return ErrorContext(location=loc_of(mark, file, shifts))


class _Frame:
    """A collection being read: its expanded size, depth below it, keys from ``<<``."""

    __slots__ = ("anchor", "chars", "container", "depth", "key", "mark", "merged", "nodes")

    def __init__(self, container: YMap | YList, anchor: str | None, mark: Any) -> None:
        self.container = container
        self.nodes = 1
        self.chars = 0
        self.depth = 0  # the deepest child's depth (a scalar's is 0)
        self.anchor = anchor
        self.key: tuple[Any, Location] | None = None  # a key whose value comes next
        self.mark = mark
        self.merged: set[str] = set()  # keys a ``<<`` put here, which an explicit key overrides


class _Builder:
    """Folds the event stream into YMap/YList/scalars, with the safety limits."""

    def __init__(self, file: str, shifts: Shifts | None = None, restore: Restore = None) -> None:
        self.file = file
        self.shifts = shifts
        self.restore = restore
        self.anchors: dict[str, tuple[Any, int, int, int]] = {}  # value, nodes, depth, chars
        self.stack: list[_Frame] = []
        self.nodes = 0
        self.chars = 0
        self.root: Any = None
        self.done = False

    def restored(self, text: str) -> str:
        return text.translate(self.restore) if self.restore else text

    def _add(self, value: Any, size: int, depth: int, chars: int, mark: Any) -> None:
        """Add a value of ``size`` nodes (expanded), ``depth`` levels and ``chars`` characters."""
        self.nodes += size
        self.chars += chars
        if self.nodes > MAX_NODES or self.chars > MAX_TEXT:
            what = f"{MAX_NODES:,} nodes" if self.nodes > MAX_NODES else f"{MAX_TEXT:,} characters"
            raise YamlError(
                f"the document expands to more than {what} (alias expansion bomb?); "
                "refusing to read it",
                context=_ctx(mark, self.file, self.shifts),
            )
        if not self.stack:
            self.root, self.done = value, True
            return
        frame = self.stack[-1]
        frame.nodes += size
        frame.chars += chars
        frame.depth = max(frame.depth, depth)
        here = loc_of(mark, self.file, self.shifts)
        container = frame.container
        if isinstance(container, YList):
            container.append(value)
            container.item_locs.append(here)
        elif frame.key is None:
            frame.key = (value, here)  # a key; its value comes next
        else:
            key, key_loc = frame.key
            frame.key = None
            self._set(frame, key, key_loc, value, here)

    def _set(self, frame: _Frame, key: Any, key_loc: Location, value: Any, here: Location) -> None:
        m = frame.container
        assert isinstance(m, YMap)
        if key == "<<" and isinstance(value, YMap | YList):
            for part in value if isinstance(value, YList) else [value]:
                for k, v in part.items() if isinstance(part, YMap) else []:
                    if k not in m:  # explicit keys, and earlier merges, win
                        m[k], m.key_locs[k], m.value_locs[k] = v, key_loc, part.value_locs[k]
                        frame.merged.add(k)
            return
        if not isinstance(key, str | int | float | bool) or isinstance(key, bool):
            raise YamlError("mapping keys must be plain strings", context=_at(key_loc))
        key = str(key)
        if key in frame.merged:  # YAML: an explicit key overrides a merged one, in any order
            frame.merged.discard(key)
        elif key in m:
            first = m.key_locs[key]
            raise YamlError(
                f"duplicate key '{key}' (first at line {first.line}, column {first.column})",
                context=_at(key_loc),
            )
        m[key], m.key_locs[key], m.value_locs[key] = value, key_loc, here

    def _open(self, container: YMap | YList, event: Any) -> None:
        kind = _STD + ("map" if isinstance(container, YMap) else "seq")
        if event.tag not in (None, "!", kind):
            what = "mapping" if isinstance(container, YMap) else "sequence"
            raise YamlError(
                f"tag {event.tag} is not allowed on a {what}"
                if event.tag in _COLLECTION_TAGS
                else f"tag {event.tag} is not allowed: convshape reads plain data only",
                context=_ctx(event.start_mark, self.file, self.shifts),
            )
        if len(self.stack) >= MAX_DEPTH:
            raise YamlError(
                f"nesting deeper than {MAX_DEPTH} levels",
                context=_ctx(event.start_mark, self.file, self.shifts),
            )
        container.loc = loc_of(event.start_mark, self.file, self.shifts)
        self.stack.append(_Frame(container, event.anchor, event.start_mark))

    def feed(self, event: Any) -> None:
        if isinstance(event, yaml.ScalarEvent):
            try:
                value = _scalar(event, self.restored(event.value))
            except YamlError as exc:
                raise exc.located(
                    location=loc_of(event.start_mark, self.file, self.shifts)
                ) from None
            chars = len(value) if isinstance(value, str) else 0
            if event.anchor:
                self.anchors[event.anchor] = (value, 1, 0, chars)
            self._add(value, 1, 0, chars, event.start_mark)
        elif isinstance(event, yaml.AliasEvent):
            name = self.restored(event.anchor or "")
            if event.anchor not in self.anchors:
                raise YamlError(
                    f"alias *{name} refers to an anchor that is not complete here",
                    context=_ctx(event.start_mark, self.file, self.shifts),
                )
            value, size, depth, chars = self.anchors[event.anchor]
            if len(self.stack) + depth > MAX_DEPTH:  # the value was built, and checked, elsewhere
                raise YamlError(
                    f"nesting deeper than {MAX_DEPTH} levels: alias *{name} puts {depth} levels "
                    f"at depth {len(self.stack)}",
                    context=_ctx(event.start_mark, self.file, self.shifts),
                )
            self._add(value, size, depth, chars, event.start_mark)
        elif isinstance(event, yaml.MappingStartEvent):
            ymap = YMap()
            ymap.key_locs, ymap.value_locs = {}, {}
            self._open(ymap, event)
        elif isinstance(event, yaml.SequenceStartEvent):
            ylist = YList()
            ylist.item_locs = []
            self._open(ylist, event)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            frame = self.stack.pop()
            container, size, depth, chars = (
                frame.container,
                frame.nodes,
                frame.depth + 1,
                frame.chars,
            )
            container.nodes, container.depth, container.chars = size, depth, chars
            self.nodes -= size - 1  # children were counted as they came in
            self.chars -= chars
            if frame.anchor:
                self.anchors[frame.anchor] = (container, size, depth, chars)
            self._add(container, size, depth, chars, frame.mark)
        elif isinstance(event, yaml.DocumentStartEvent) and self.done:
            raise YamlError(
                "a spec file holds one YAML document; found a second '---'",
                context=_ctx(event.start_mark, self.file, self.shifts),
            )


def _at(loc: Location) -> ErrorContext:
    return ErrorContext(location=loc)


def hide_breaks(text: str) -> tuple[str, Restore]:
    """``text`` with U+2028, U+2029 and U+0085 replaced by unused private-use characters.

    PyYAML follows YAML 1.1, where these three are line breaks: one in a comment ends the
    comment (what follows it is read as YAML) and every later line number is one more than the
    editor shows. YAML 1.2 and editors that break lines on ``\n`` take them for ordinary
    characters; so does convshape: parsed as stand-ins of the same length (columns are kept),
    each is restored in the values. Returns the text and the table that restores them.
    """
    if not any(c in text for c in _BREAKS):
        return text, None
    used = set(text)
    free = (c for c in chain(*_PRIVATE_USE) if chr(c) not in used)
    stand_ins = [next(free, None) for _ in _BREAKS]
    if None in stand_ins:  # every private-use character is in the file: leave it as it is
        return text, None
    hide = {ord(b): c for b, c in zip(_BREAKS, stand_ins, strict=True)}
    return text.translate(hide), {c: b for b, c in hide.items() if c is not None}


def parse_text(text: str, file: str) -> Any:
    """The document's plain data (YMap / YList / scalar), or a located :class:`YamlError`."""
    text, restore = hide_breaks(text)
    text, shifts = quote_expressions(text)
    try:
        return _fold(text, file, shifts, _Loader, restore)
    except _ScannerDepth:
        # libyaml >= 0.2.5 (bundled by PyYAML 6.0.4) stops its look-ahead scanner at nesting
        # depth 1000 with its own message, before a single event reaches MAX_DEPTH here. The
        # pure-Python parser has no such limit and looks ahead at most 1024 characters, so it
        # hands us the events that cross MAX_DEPTH, and the message stays ours and located.
        return _fold(text, file, shifts, yaml.SafeLoader, restore)


class _ScannerDepth(Exception):
    """libyaml refused a nesting depth before convshape could (see :func:`parse_text`)."""


def _fold(text: str, file: str, shifts: Shifts, loader: Any, restore: Restore = None) -> Any:
    builder = _Builder(file, shifts, restore)
    try:
        for event in yaml.parse(text, Loader=loader):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = builder.restored((exc.problem or exc.context or "invalid YAML").strip())
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
    try:
        data = _read_bytes(Path(path))
    except YamlError as exc:
        raise exc.located(file=str(path)) from None
    return decode(data, str(path), "a binary file")


def decode(data: bytes, display: str, binary: str = "binary data") -> str:
    """A spec's bytes as text (UTF-8, a BOM allowed), or a YamlError at line 1 of
    ``display``; ``binary`` names what NUL bytes mean (``a binary file``)."""
    where = _at(Location(display, 1, 1))
    if b"\0" in data:
        raise YamlError(f"this is {binary}, not YAML text", context=where)
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
        raise YamlError("is a directory with no *.yaml or *.yml file")
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
