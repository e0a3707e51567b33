"""The diff itself: rows aligned by the rule of :mod:`convshape.diff`, and the totals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from convshape.engine import Node
from convshape.errors import UsageError
from convshape.footprint import Memory
from convshape.results import FileResult

Status = Literal["added", "removed", "changed", "same"]
STATUSES: tuple[Status, ...] = ("changed", "added", "removed", "same")
MAX_MATCH_WORK = 250_000  # sibling matching past this many steps (0.1 s) pairs by position


# ------------------------------------------------------------------------------- the diff


@dataclass(frozen=True)
class Module:
    """One module of one side, as the diff compares it."""

    path: str
    name: str | None
    type: str  # the torch class, or the container type
    block: str | None  # the block it instantiates
    depth: int
    container: bool
    output_shape: tuple[int, ...]
    params: int  # a container's subtotal
    macs: int  # a container's subtotal
    saved_bytes: int | None  # what this module itself saves for backward; None: no figures

    @property
    def type_text(self) -> str:
        return f"{self.block} ({self.type})" if self.block else self.type

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "type": self.type,
            "block": self.block,
            "depth": self.depth,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "saved_bytes": self.saved_bytes,
        }


def _module(node: Node, memory: Memory | None) -> Module:
    return Module(
        path=node.path,
        name=node.name,
        type=node.type_name,
        block=node.decl.block,
        depth=node.depth,
        container=node.layer is None,
        output_shape=node.output_shape,
        params=node.num_params,
        macs=node.macs,
        saved_bytes=None if memory is None else memory.saved.get(node.path, 0),
    )


NUMBERS = ("params", "macs", "saved_bytes")  # a row's numbers that get a delta


@dataclass(frozen=True)
class Row:
    """One aligned module: ``old`` and/or ``new``."""

    status: Status
    old: Module | None
    new: Module | None

    @property
    def side(self) -> Module:
        """The new module, or the old one of a removed row."""
        side = self.new or self.old
        assert side is not None
        return side

    @property
    def path(self) -> str:
        return self.side.path

    @property
    def name(self) -> str | None:
        return self.side.name

    @property
    def depth(self) -> int:
        return self.side.depth

    def delta(self, field: str) -> int | None:
        """new - old (a missing side counts 0); None when either side has no such figure."""
        old = 0 if self.old is None else getattr(self.old, field)
        new = 0 if self.new is None else getattr(self.new, field)
        return None if old is None or new is None else new - old

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "status": self.status,
            "old": None if self.old is None else self.old.as_json(),
            "new": None if self.new is None else self.new.as_json(),
            "delta": {field: self.delta(field) for field in NUMBERS},
        }


@dataclass(frozen=True)
class Figure:
    """One total on both sides (None: that side has no such figure)."""

    key: str  # the JSON key
    label: str
    old: int | None
    new: int | None

    @property
    def delta(self) -> int | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def percent(self) -> float | None:
        """The change in percent of the old figure; None when the old one is 0 or missing."""
        delta = self.delta
        return None if delta is None or not self.old else 100 * delta / self.old


@dataclass(frozen=True)
class Diff:
    old: str  # the sides' display names
    new: str
    old_name: str | None  # the specs' ``name:``
    new_name: str | None
    rows: tuple[Row, ...]
    totals: tuple[Figure, ...]
    memory: str | None  # what the memory figures are for: "float32, cpu"; None: no figures

    @property
    def changes(self) -> list[Row]:
        return [r for r in self.rows if r.status != "same"]

    @property
    def counts(self) -> dict[str, int]:
        seen = Counter(r.status for r in self.rows)
        return {status: seen[status] for status in STATUSES}

    @property
    def has_memory(self) -> bool:
        """Both sides have memory figures (every module its ``saved_bytes``)."""
        return self.memory is not None

    def figure(self, key: str) -> Figure:
        return next(f for f in self.totals if f.key == key)


def _valid(result: FileResult) -> Node:
    """The prediction's root of a side, or its first error (raised, naming the side)."""
    if result.errors:
        err = result.errors[0]
        if err.context.location is None and err.context.file is None:
            err = err.located(file=result.file)
        raise err
    if result.prediction is None or result.prediction.root is None:
        raise UsageError("this side was not predicted").located(file=result.file)
    return result.prediction.root


def diff(old: FileResult, new: FileResult) -> Diff:
    """The two predictions aligned module by module (the rule: this module's docstring) with
    their totals. A side with an error raises that error (the old side's first)."""
    old_root, new_root = _valid(old), _valid(new)
    pairs = align(old_root, new_root)
    rows = tuple(_row(o, n, old.memory, new.memory) for o, n in pairs)
    return Diff(
        old=old.file,
        new=new.file,
        old_name=old.spec.name if old.spec else None,
        new_name=new.spec.name if new.spec else None,
        rows=rows,
        totals=_totals(old, new),
        memory=_memory_note(old.memory, new.memory),
    )


def _row(old: Node | None, new: Node | None, om: Memory | None, nm: Memory | None) -> Row:
    a = None if old is None else _module(old, om)
    b = None if new is None else _module(new, nm)
    if a is None:
        return Row("added", None, b)
    if b is None:
        return Row("removed", a, None)
    same = replace(a, path=skeleton(a.path)) == replace(b, path=skeleton(b.path))
    return Row("same" if same else "changed", a, b)


def skeleton(path: str) -> str:
    """A path with its list indices blanked: a module whose index shifted (a layer inserted
    before it) is not changed by that alone; a renamed key is."""
    return ".".join("#" if key.isdigit() else key for key in path.split("."))


def _memory_note(old: Memory | None, new: Memory | None) -> str | None:
    if old is None or new is None:
        return None
    notes = [f"{m.dtype}, {m.device}, {m.optimizer}" for m in (old, new)]
    return notes[0] if notes[0] == notes[1] else f"{notes[0]} -> {notes[1]}"


TOTALS: tuple[tuple[str, str, Callable[[FileResult], int | None]], ...] = (
    ("params", "params", lambda r: r.totals.params if r.totals else None),
    (
        "trainable_params",
        "trainable params",
        lambda r: r.totals.trainable_params if r.totals else None,
    ),
    ("macs", "MACs", lambda r: r.totals.macs if r.totals else None),
    ("flops", "FLOPs", lambda r: r.totals.flops if r.totals else None),
    ("param_bytes", "param bytes", lambda r: r.memory.param_bytes if r.memory else None),
    (
        "saved_activation_bytes",
        "saved for backward",
        lambda r: (
            r.memory.saved_activation_bytes if r.memory and r.memory.untrainable is None else None
        ),
    ),
    (
        "inference_peak_bytes",
        "inference peak",
        lambda r: r.memory.inference_peak_bytes if r.memory else None,
    ),
)


def _totals(old: FileResult, new: FileResult) -> tuple[Figure, ...]:
    return tuple(Figure(key, label, get(old), get(new)) for key, label, get in TOTALS)


# ---------------------------------------------------------------------------- alignment


Pair = tuple[Node | None, Node | None]


def align(old: Node, new: Node) -> list[Pair]:
    """Every module of the two trees (roots excluded), paired by this module's rule, in the
    new tree's order with removed modules where they stood."""
    return list(_Aligner(old, new).children(old, new))


class _Aligner:
    def __init__(self, old: Node, new: Node) -> None:
        old_named = _unique_names(old)
        new_named = _unique_names(new)
        both = old_named.keys() & new_named.keys()
        # id() of a module paired by name -> its partner
        self.partner: dict[int, Node] = {}
        for name in both:
            a, b = old_named[name], new_named[name]
            self.partner[id(a)], self.partner[id(b)] = b, a

    def children(self, old: Node, new: Node) -> Iterator[Pair]:
        a, b = old.children, new.children
        for o, n in _match(a, b, self._signature):
            if o is not None and n is not None:
                yield from self.pair(o, n)
                continue
            if o is not None:
                yield from self.removed(o)
            if n is not None:
                yield from self.added(n)

    def _signature(self, node: Node) -> tuple[str, ...]:
        partner = self.partner.get(id(node))
        if partner is not None:  # paired by name: only its partner matches it
            return ("\0name", node.name or "")
        key = "" if node.key.isdigit() else node.key
        return (key, node.type_name, node.decl.block or "")

    def pair(self, old: Node, new: Node) -> Iterator[Pair]:
        yield old, new
        yield from self.children(old, new)

    def removed(self, old: Node) -> Iterator[Pair]:
        if id(old) in self.partner:
            return  # shown with its partner, where that one stands
        yield old, None
        for child in old.children:
            yield from self.removed(child)

    def added(self, new: Node) -> Iterator[Pair]:
        partner = self.partner.get(id(new))
        if partner is not None:
            yield from self.pair(partner, new)
            return
        yield None, new
        for child in new.children:
            yield from self.added(child)


def _unique_names(root: Node) -> dict[str, Node]:
    """``name:`` -> the one module carrying it (names carried twice are left out)."""
    seen: dict[str, Node] = {}
    twice: set[str] = set()
    for node in root.walk()[1:]:
        if node.name is None:
            continue
        if node.name in seen:
            twice.add(node.name)
        seen[node.name] = node
    return {name: node for name, node in seen.items() if name not in twice}


def _match(
    old: Sequence[Node], new: Sequence[Node], signature: Callable[[Node], tuple[str, ...]]
) -> list[Pair]:
    """Two lists of siblings matched in order (see the rule): pairs, and one-sided entries
    ``(old, None)`` / ``(None, new)`` where they stand."""
    a = [signature(n) for n in old]
    b = [signature(n) for n in new]
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    out: list[Pair] = list(zip(old[:head], new[:head], strict=True))
    i, j = head, head  # the first old and new sibling not yet placed
    for mi, mj in [*_common(a[head : len(a) - tail], b[head : len(b) - tail]), (-1, -1)]:
        ei, ej = (len(a) - tail, len(b) - tail) if mi < 0 else (head + mi, head + mj)
        out += _replace(old[i:ei], new[j:ej], a[i:ei], b[j:ej])  # the run before this match
        if mi >= 0:
            out.append((old[ei], new[ej]))
            i, j = ei + 1, ej + 1
    out += zip(old[len(old) - tail :], new[len(new) - tail :], strict=True)
    return out


def _common(a: Sequence[object], b: Sequence[object]) -> list[tuple[int, int]]:
    """The index pairs of a longest common subsequence of ``a`` and ``b`` (dynamic
    programming, ``len(a) * len(b)`` steps); none past :data:`MAX_MATCH_WORK` steps (a huge
    rewrite is then paired by position)."""
    n, m = len(a), len(b)
    if not n or not m or n * m > MAX_MATCH_WORK:
        return []
    after = [[0] * (m + 1) for _ in range(n + 1)]  # after[i][j]: LCS length of a[i:], b[j:]
    for i in range(n - 1, -1, -1):
        row, below, x = after[i], after[i + 1], a[i]
        for j in range(m - 1, -1, -1):
            row[j] = below[j + 1] + 1 if x == b[j] else max(below[j], row[j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif after[i + 1][j] >= after[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _replace(
    olds: Sequence[Node],
    news: Sequence[Node],
    sig_a: Sequence[tuple[str, ...]],
    sig_b: Sequence[tuple[str, ...]],
) -> list[Pair]:
    """A run replaced by another: in order, pair what is the same place (both keys indices)
    or the same type (a rename); the rest is removed and added."""
    out: list[Pair] = []
    for k in range(max(len(olds), len(news))):
        o = olds[k] if k < len(olds) else None
        n = news[k] if k < len(news) else None
        if o is not None and n is not None and _pairable(o, n, sig_a[k], sig_b[k]):
            out.append((o, n))
            continue
        if o is not None:
            out.append((o, None))
        if n is not None:
            out.append((None, n))
    return out


def _pairable(o: Node, n: Node, sig_o: tuple[str, ...], sig_n: tuple[str, ...]) -> bool:
    if sig_o[0] == "\0name" or sig_n[0] == "\0name":
        return False  # paired by name elsewhere
    return (o.key.isdigit() and n.key.isdigit()) or o.type_name == n.type_name
