"""``convshape diff OLD NEW``: what changed between two specs, layer by layer (torch-free).

A side is a file path, ``-`` (the text on stdin) or a file at a git revision, ``REV:path``
(``HEAD:configs/resnet50.yaml``, ``main~1:x.yaml``, ``:x.yaml`` for the index; ``path`` is
relative to the repository's root, or to the current folder when it starts with ``./`` or
``../``, as git reads it). An argument that names an existing file is that file, even with a
``:`` in it. Each side is loaded, predicted and given its memory figures exactly as ``check``
does (:func:`check_text` is :func:`convshape.results.check_file` on text), then
:func:`diff` aligns the two module trees and :func:`diff_table`, :func:`diff_markdown` and
:func:`diff_json` show the result.

``include:`` files are read relative to the spec's own folder: the file's folder for a path,
the current folder for stdin, and for ``REV:path`` the same folder *at that revision* (the
included files are read from git too, so an old revision diffs with its old blocks).

**The alignment rule** (:func:`align`), applied to the two trees of modules:

1. *Name first*: a ``name:`` carried by exactly one module on each side pairs those two
   modules wherever they stand, so a named layer moved into another container, or one whose
   type changed, is one ``changed`` row, not a removal and an addition.
2. *Then container by container*: the children of two paired modules (the top-level layers
   first) are matched as sequences, by the longest common subsequence of (module key when it
   is a name, type, block); so when a layer is inserted or removed, the layers after it keep
   their partners even though their indices (and paths) shift (a run of over 250,000
   comparisons, a wholesale rewrite, is paired by position instead). Where both sides replaced a
   run of children, they pair in order when both keys are indices (``3``: the same place got
   another layer) or both have the same type (a renamed module: ``stem`` -> ``trunk``); the
   rest are ``removed`` and ``added``.
3. Everything under an added (removed) module is added (removed), except a module paired by
   name in step 1.

A pair is ``same`` when its name, type, block, output shape, params, MACs and saved bytes are
equal and its paths differ at most in list indices (a layer inserted before it shifts its index,
which alone is no change; a renamed or moved key is), else ``changed``. Rows come in the new
tree's order, a removed module where it stood.
"""

from __future__ import annotations

import copy
import os
import posixpath
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from convshape.engine import Node, predict
from convshape.errors import ConvshapeError, UsageError, YamlError
from convshape.footprint import Memory, footprint
from convshape.lint import lint
from convshape.render import safe, shape_text
from convshape.results import FileResult, with_batch
from convshape.spec.parse import Parser
from convshape.spec.yamlio import MAX_BYTES, YList, YMap, decode, parse_text, read_file

Status = Literal["added", "removed", "changed", "same"]
STATUSES: tuple[Status, ...] = ("changed", "added", "removed", "same")
STDIN = "<stdin>"  # the display name of a side read from stdin
GIT_TIMEOUT = 30  # seconds, for each git command
MAX_INCLUDE_FILES = 256  # files read from a revision for one spec's ``include:``
MAX_MATCH_WORK = 250_000  # sibling matching past this many steps (0.1 s) pairs by position

E = TypeVar("E", bound=ConvshapeError)

# ------------------------------------------------------------------------------ the sides


@dataclass(frozen=True)
class _Source:
    """One side as read: its text, and how to load it (where ``include:`` resolves)."""

    display: str
    text: str
    file: str  # the file name the parser gets: includes resolve from its folder
    relabel: tuple[tuple[str, str], ...] = ()  # (what the parser saw, what to show instead)
    rev: str | None = None  # REV:path: read includes from this revision
    repo_path: str | None = None  # the spec's path in the repository (with rev)
    cwd: Path | None = None


def read_side(arg: str, cwd: Path, *, stdin: IO[str] | IO[bytes] | None = None) -> tuple[str, str]:
    """The display name and YAML text of one side: a file path, ``-`` (``stdin``, default
    ``sys.stdin``) or ``REV:path`` (read from git in ``cwd``).

    Raises a :class:`YamlError` naming the side for an unreadable file (missing, binary, not
    UTF-8, over 5 MB; the messages of ``check``), and a :class:`UsageError` when git cannot
    answer (git missing, not a repository, unknown revision, a path not in that revision).
    """
    source = _open(arg, Path(cwd), stdin)
    return source.display, source.text


def _open(arg: str, cwd: Path, stdin: IO[str] | IO[bytes] | None) -> _Source:
    if not arg:
        raise UsageError("an empty argument is not a spec: give a file, '-' or REV:path")
    cwd = Path(os.path.abspath(cwd))
    if arg == "-":
        text = _read_stdin(sys.stdin if stdin is None else stdin)
        return _Source(STDIN, text, *_on_disk(STDIN, cwd / STDIN, cwd))
    path = Path(arg) if os.path.isabs(arg) else cwd / arg
    if _exists(path) or ":" not in arg:
        try:
            text = read_file(path)
        except ConvshapeError as exc:
            raise _relabelled(exc, ((str(path), arg),)) from None
        return _Source(arg, text, *_on_disk(arg, path, cwd))
    rev, _, inside = arg.partition(":")
    repo_path = _repo_path(rev, inside, cwd)
    text = _decode(_git_blob(rev, repo_path, cwd, arg), arg)
    return _Source(arg, text, "", (), rev, repo_path, cwd)


def _exists(path: Path) -> bool:
    try:
        return os.path.lexists(path)
    except (OSError, ValueError):
        return False


def _on_disk(display: str, path: Path, cwd: Path) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The parser's file name for a side on disk, and how its messages name it: the side as
    typed, and an included file relative to ``cwd`` when it is below it."""
    file = str(path)
    if os.path.isabs(display):
        return file, ((file, display),)
    return file, ((file, display), (str(cwd) + os.sep, ""))


def _read_stdin(stream: IO[str] | IO[bytes]) -> str:
    raw = getattr(stream, "buffer", stream)  # bytes when there are: decode as a file is
    try:
        data = raw.read(MAX_BYTES + 1)
    except UnicodeDecodeError as exc:
        raise YamlError(f"not UTF-8 text ({exc.reason})").located(file=STDIN) from None
    except OSError as exc:
        raise YamlError(f"cannot read: {exc.strerror or exc}").located(file=STDIN) from None
    if isinstance(data, bytes):
        return _decode(data, STDIN)
    if len(data.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlError(f"over {MAX_BYTES:,} bytes, the limit for a spec").located(file=STDIN)
    if "\0" in data:
        raise YamlError("this is binary data, not YAML text").located(file=STDIN)
    return data.removeprefix("\ufeff")


def _decode(data: bytes, display: str) -> str:
    """Bytes read from stdin or git, with the checks :func:`read_file` makes of a file."""
    if len(data) > MAX_BYTES:
        raise YamlError(f"over {MAX_BYTES:,} bytes, the limit for a spec").located(file=display)
    return decode(data, display)


# ------------------------------------------------------------------------------------ git


def _git(args: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, timeout=GIT_TIMEOUT, env=env
        )
    except FileNotFoundError:
        raise UsageError(
            f"{what}: git is not installed (or not on PATH), and REV:path is read with git",
            hint="give a file path instead, or install git",
        ) from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"{what}: git did not answer in {GIT_TIMEOUT} s") from None
    except OSError as exc:
        raise UsageError(f"{what}: cannot run git ({exc.strerror or exc})") from None


def _said(proc: subprocess.CompletedProcess[bytes]) -> str:
    text = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return text[0].removeprefix("fatal: ") if text else f"git exited with {proc.returncode}"


def _repo_path(rev: str, inside: str, cwd: Path) -> str:
    """``path`` of ``REV:path`` relative to the repository's root (after checking that ``cwd``
    is in a repository and that ``REV`` names a commit or tree)."""
    arg = f"{rev}:{inside}"
    if rev.startswith("-"):
        raise UsageError(f"{arg}: a revision cannot start with '-'")
    if not inside:
        raise UsageError(f"{arg}: no file after ':' (REV:path, e.g. HEAD:configs/model.yaml)")
    if not cwd.is_dir():
        raise UsageError(f"{arg}: the folder {cwd} does not exist, so git cannot read {arg}")
    proc = _git(["rev-parse", "--show-prefix"], cwd, arg)
    if proc.returncode != 0:
        raise UsageError(
            f"{arg}: no file of that name, and {cwd} is not in a git repository to read "
            f"'{inside}' at revision '{rev}' from",
            hint="REV:path reads a file at a git revision; give a file path otherwise",
        )
    prefix = proc.stdout.decode("utf-8", "surrogateescape").strip()
    if rev:  # an empty revision (":path") is the index
        proc = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{tree}}"], cwd, arg)
        if proc.returncode != 0:
            raise UsageError(
                f"{arg}: unknown revision '{rev}' in this repository",
                hint="a branch, tag or commit, e.g. HEAD, HEAD~1, main; `git log` lists them",
            )
    relative = inside.startswith(("./", "../")) or inside in (".", "..")
    full = posixpath.normpath(posixpath.join(prefix, inside) if relative else inside)
    if full == ".." or full.startswith("../") or posixpath.isabs(full):
        raise UsageError(f"{arg}: the path is outside the repository")
    return full


def _git_blob(rev: str, repo_path: str, cwd: Path, display: str) -> bytes:
    """The bytes of ``repo_path`` at ``rev`` (``git cat-file``: the raw blob, no textconv)."""
    obj = f"{rev}:{repo_path}"
    proc = _git(["cat-file", "-t", obj], cwd, display)
    kind = proc.stdout.decode("ascii", "replace").strip()
    if proc.returncode != 0:
        where = f"revision '{rev}'" if rev else "the index"
        raise UsageError(
            f"{display}: no file '{repo_path}' in {where}",
            hint="the path after ':' is from the repository's root; './' makes it relative "
            "to the current folder (HEAD:./model.yaml)",
        )
    if kind != "blob":
        what = "a folder" if kind == "tree" else f"a {kind}"
        raise UsageError(f"{display}: '{repo_path}' is {what} in git, not a spec file")
    proc = _git(["cat-file", "-s", obj], cwd, display)
    if proc.returncode == 0 and int(proc.stdout.strip() or 0) > MAX_BYTES:
        raise YamlError(f"over {MAX_BYTES:,} bytes, the limit for a spec").located(file=display)
    proc = _git(["cat-file", "blob", obj], cwd, display)
    if proc.returncode != 0:
        raise UsageError(f"{display}: git cannot read it ({_said(proc)})")
    return proc.stdout


def _materialize(source: _Source, folder: Path) -> str:
    """Write the spec and the files its ``include:`` reaches, as they are at the revision,
    under ``folder`` (the repository's layout); return the spec's file there.

    Only files below the spec's folder are read (the parser refuses the others with its own
    message); a file missing at the revision is left missing (the parser says so)."""
    assert source.rev is not None and source.repo_path is not None and source.cwd is not None
    top = posixpath.dirname(source.repo_path)
    seen = {source.repo_path}
    queue = [(source.repo_path, source.text)]
    _write(folder, source.repo_path, source.text.encode("utf-8"))
    while queue:
        current, text = queue.pop()
        for included in _include_list(text):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(current), included))
            below = target.startswith(top + "/") if top else not target.startswith("../")
            if not below or target in seen or "://" in included or len(seen) > MAX_INCLUDE_FILES:
                continue
            seen.add(target)
            try:
                data = _git_blob(source.rev, target, source.cwd, f"{source.rev}:{target}")
            except ConvshapeError:
                continue
            _write(folder, target, data)
            try:
                queue.append((target, data.decode("utf-8-sig")))
            except UnicodeDecodeError:
                continue
    return str(folder / source.repo_path)


def _include_list(text: str) -> list[str]:
    try:
        data = parse_text(text, "include")
    except ConvshapeError:
        return []
    raw = data.get("include") if isinstance(data, YMap) else None
    items = raw if isinstance(raw, YList) else [raw]
    return [item for item in items if isinstance(item, str) and item]


def _write(folder: Path, repo_path: str, data: bytes) -> None:
    target = folder / repo_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


# ------------------------------------------------------------------------- loading a side


def check_text(
    text: str,
    name: str = STDIN,
    *,
    folder: str | Path | None = None,
    batch: int | None = None,
    dtype: str = "float32",
    optimizer: str = "adam",
    device: str = "cpu",
) -> FileResult:
    """A spec given as text, loaded, predicted, linted and with its memory figures, as
    :func:`convshape.results.check_file` does for a file (no verification, no budget).

    Messages name it ``name``; its ``include:`` files are read from ``folder`` (default: the
    current folder). Errors are in the result's ``errors``, as ``check_file`` puts them."""
    where = Path(os.path.abspath(folder if folder is not None else os.curdir))
    file = str(where / (posixpath.basename(name.replace(os.sep, "/")) or "spec.yaml"))
    options = {"batch": batch, "dtype": dtype, "optimizer": optimizer, "device": device}
    return _check(text, name, file, ((file, name), (str(where) + os.sep, "")), options)


def check_side(
    arg: str,
    cwd: Path,
    *,
    stdin: IO[str] | IO[bytes] | None = None,
    batch: int | None = None,
    dtype: str = "float32",
    optimizer: str = "adam",
    device: str = "cpu",
) -> FileResult:
    """One side of a diff (see :func:`read_side`), checked as :func:`check_text` does; every
    error, reading included, is in the result's ``errors`` (``usage_error`` tells exit 2)."""
    options = {"batch": batch, "dtype": dtype, "optimizer": optimizer, "device": device}
    try:
        source = _open(arg, Path(cwd), stdin)
    except ConvshapeError as exc:
        return FileResult(STDIN if arg == "-" else arg, errors=[exc])
    if source.rev is None:
        return _check(source.text, source.display, source.file, source.relabel, options)
    with tempfile.TemporaryDirectory(prefix="convshape-diff-") as tmp:
        folder = Path(tmp).resolve()
        file = _materialize(source, folder)
        shown = f"{source.rev}:"
        relabel = ((file, source.display), (f"{folder}{os.sep}", shown), (str(folder), shown))
        return _check(source.text, source.display, file, relabel, options)


def check_sides(
    old: str,
    new: str,
    cwd: Path,
    *,
    stdin: IO[str] | IO[bytes] | None = None,
    batch: int | None = None,
    dtype: str = "float32",
    optimizer: str = "adam",
    device: str = "cpu",
) -> tuple[FileResult, FileResult]:
    """Both sides of ``convshape diff OLD NEW``; at most one may be ``-`` (UsageError)."""
    if old == new == "-":
        raise UsageError("only one side can be read from stdin ('-')")
    options: dict[str, Any] = {"batch": batch, "dtype": dtype, "optimizer": optimizer}
    return (
        check_side(old, cwd, stdin=stdin, device=device, **options),
        check_side(new, cwd, stdin=stdin, device=device, **options),
    )


def _check(
    text: str,
    display: str,
    file: str,
    relabel: tuple[tuple[str, str], ...],
    options: dict[str, Any],
) -> FileResult:
    """``check_file`` from text: the same steps, with the parser given ``file`` (so includes
    resolve from its folder) and every message naming the side as ``relabel`` says."""
    result = FileResult(display)
    try:
        result.spec = Parser(file).spec(parse_text(text, file))
    except ConvshapeError as exc:
        result.errors.append(_relabelled(exc, relabel))
        return result
    result.prediction = predict(result.spec)
    batch = options["batch"]
    if result.prediction.ok and batch is not None:
        try:
            result.spec = with_batch(result.spec, result.prediction, batch)
        except ConvshapeError as exc:
            result.errors.append(_relabelled(exc, relabel))
            return result
        result.prediction = predict(result.spec)
    if result.prediction.error is not None:
        result.errors.append(_relabelled(result.prediction.error, relabel))
        return result
    result.warnings = [_relabelled(w, relabel) for w in lint(result.prediction)]
    result.memory = footprint(
        result.prediction, options["dtype"], options["optimizer"], options["device"]
    )
    return result


def _relabelled(err: E, relabel: Sequence[tuple[str, str]]) -> E:
    """``err`` with the file names the parser saw replaced by the ones to show."""

    def fix(text: str | None) -> str | None:
        if text:
            for seen, shown in relabel:
                text = text.replace(seen, shown)
        return text

    if not relabel:
        return err
    ctx = err.context
    loc = ctx.location
    if loc is not None:
        loc = loc._replace(file=fix(loc.file) or loc.file)
    out = copy.copy(err)
    out.context = replace(ctx, location=loc, file=fix(ctx.file), via=fix(ctx.via))
    out.message = fix(err.message) or err.message
    out.hint = fix(err.hint)
    out.formula = tuple(fix(line) or line for line in err.formula)
    out.args = (out.message,)
    return out


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
    same = replace(a, path=_skeleton(a.path)) == replace(b, path=_skeleton(b.path))
    return Row("same" if same else "changed", a, b)


def _skeleton(path: str) -> str:
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


# ------------------------------------------------------------------------------ rendering


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _signed(n: int | None) -> str:
    """``+1,024``, ``-3``, ``0``; ``-`` for no figure."""
    if n is None:
        return "-"
    return f"{n:+,}" if n else "0"


def _percent(figure: Figure) -> str:
    """``+3.2%``, ``-<0.1%`` for a change too small to show, ``new`` from 0."""
    pct, delta = figure.percent, figure.delta
    if delta is None:
        return ""
    if pct is None:
        return "new" if delta else ""
    if delta and abs(pct) < 0.05:
        return "+<0.1%" if delta > 0 else "-<0.1%"
    return f"{pct:+.1f}%" if delta else "0.0%"


def _both(old: str | None, new: str | None, arrow: str) -> str:
    """One side's text, or ``old -> new`` when they differ."""
    if old is None or new is None or old == new:
        return new if new is not None else old or ""
    return f"{old}{arrow}{new}"


def _row_cells(row: Row, has_memory: bool, arrow: str) -> list[str]:
    old, new, side = row.old, row.new, row.side

    def both(text: Callable[[Module], str]) -> str:
        return _both(None if old is None else text(old), None if new is None else text(new), arrow)

    moved = old is not None and new is not None and _skeleton(old.path) != _skeleton(new.path)
    cells = [
        both(lambda m: m.path) if moved else row.path,
        row.status,
        both(lambda m: m.type_text),
        both(lambda m: shape_text(m.output_shape)),
    ]
    fields = NUMBERS if has_memory else NUMBERS[:2]
    for field in fields:
        value, delta = getattr(side, field), row.delta(field)
        wrap = side.container and field != "saved_bytes"  # subtotals, as `check` shows them
        shown = [_count(value), _signed(delta) if delta else ""]
        cells += [f"({text})" if wrap and text else text for text in shown]
    return cells


TABLE_HEAD = ("Layer", "Status", "Type", "Output", "Params", "+/-", "MACs", "+/-")
MEMORY_HEAD = ("Saved B", "+/-")


def _counts_line(d: Diff, hidden: int) -> str:
    c = d.counts
    line = f"{c['changed']} changed, {c['added']} added, {c['removed']} removed, "
    return line + (f"{hidden} unchanged not shown" if hidden else f"{c['same']} unchanged")


def _side_title(file: str, name: str | None) -> str:
    return f"{file} ({name})" if name else file


def diff_table(d: Diff, only_changes: bool = True) -> str:
    """Plain text: a title, the rows (only the changed ones by default, then how many were
    not shown), columns two spaces apart under a dashed rule, then the totals with signed
    changes and percentages.

    A row's Layer is its new path (a removed module's: its old one), ``old -> new`` when a key
    was renamed or the module moved; a container's Params and MACs are subtotals, in
    parentheses as ``check`` shows them."""
    lines = [safe(f"{_side_title(d.old, d.old_name)} -> {_side_title(d.new, d.new_name)}")]
    rows = d.changes if only_changes else list(d.rows)
    if rows:
        head = TABLE_HEAD + (MEMORY_HEAD if d.has_memory else ())
        body = [[safe(c) for c in _row_cells(r, d.has_memory, " -> ")] for r in rows]
        left = 4  # Layer, Status, Type, Output: left-aligned; the numbers right-aligned
        lines += _grid([list(head), *body], left, rule_after=1)
    else:
        lines.append(f"no module changed ({len(d.rows)} compared)")
    lines.append(_counts_line(d, len(d.rows) - len(rows)))
    lines.append("")
    figures = [
        [f.label, _count(f.old), _count(f.new), _signed(f.delta), _percent(f)] for f in d.totals
    ]
    lines += _grid([["Totals", "old", "new", "change", "%"], *figures], 1, rule_after=1)
    if d.memory:
        lines.append(f"(bytes: {d.memory}; Saved B: what each module saves for backward)")
    return "\n".join(lines) + "\n"


def _grid(rows: list[list[str]], left: int, rule_after: int) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        cells = [
            text.ljust(w) if i < left else text.rjust(w)
            for i, (text, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    out = [line(row) for row in rows]
    out.insert(rule_after, "  ".join("-" * w for w in widths))
    return out


MARKDOWN_ROWS = 100  # changed rows in a Markdown table: about 20,000 characters


def _md(text: str) -> str:
    return safe(text).replace("|", "\\|")


def diff_markdown(d: Diff, max_rows: int = MARKDOWN_ROWS) -> str:
    """For a pull-request comment: a title, one line of the totals' changes, then a table of
    the changed rows (the first ``max_rows``: a comment holds 65,536 characters)."""
    title = f"### convshape diff: `{_md(d.old)}` → `{_md(d.new)}`"
    if d.new_name and d.new_name == d.old_name:
        title += f" ({_md(d.new_name)})"
    elif d.old_name or d.new_name:
        title += f" ({_md(d.old_name or '-')} → {_md(d.new_name or '-')})"
    changed, unchanged = [], []
    params = d.figure("params")
    for f in d.totals:
        if f.key == "trainable_params" and (f.old, f.new) == (params.old, params.new):
            continue  # every parameter trains: the same figure twice
        if f.delta:
            pct = _percent(f)
            change = f"**{_signed(f.delta)}**" + (f", {pct}" if pct else "")
            changed.append(f"{f.label} {_count(f.old)} → {_count(f.new)} ({change})")
        elif f.delta == 0:
            unchanged.append(f.label)
    summary = " · ".join(changed) if changed else "no total changed"
    if unchanged and changed:
        summary += f" · unchanged: {', '.join(unchanged)}"
    lines = [title, "", summary, ""]
    rows = d.changes
    if rows:
        head = ["Layer", "Status", "Type", "Output", "Params", "Δ Params", "MACs", "Δ MACs"]
        align_row = ["---"] * 4 + ["--:"] * 4
        if d.has_memory:
            head += ["Saved B", "Δ Saved B"]
            align_row += ["--:"] * 2
        lines += [_md_row(head), _md_row(align_row)]
        for row in rows[:max_rows]:
            cells = [_md(c) for c in _row_cells(row, d.has_memory, " → ")]
            cells[0] = f"`{cells[0]}`"
            cells[1] = f"**{cells[1]}**" if row.status != "changed" else cells[1]
            lines.append(_md_row(cells))
        lines.append("")
        if len(rows) > max_rows:
            more = len(rows) - max_rows
            lines += [f"... and {more:,} more changed rows (the JSON output has every row).", ""]
    else:
        lines += ["No module changed.", ""]
    lines.append(_counts_line(d, len(d.rows) - len(rows)) + ".")
    if d.memory:
        lines.append(f"Memory figures in bytes ({d.memory}).")
    return "\n".join(lines) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def diff_json(d: Diff) -> dict[str, Any]:
    """``{"old", "new", "totals": {key: {"old", "new", "delta"}}, "counts", "rows"}``; every
    row, unchanged ones included, as ``{"path", "name", "status", "old", "new", "delta"}``."""
    return {
        "old": d.old,
        "new": d.new,
        "totals": {f.key: {"old": f.old, "new": f.new, "delta": f.delta} for f in d.totals},
        "counts": d.counts,
        "rows": [row.as_json() for row in d.rows],
    }
