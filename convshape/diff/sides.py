"""The two sides of ``convshape diff``: a file, stdin or a file at a git revision, loaded,
predicted and given memory figures as ``check`` does (see :mod:`convshape.diff`)."""

from __future__ import annotations

import copy
import os
import posixpath
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, TypeVar

from convshape.engine import predict
from convshape.errors import ConvshapeError, UsageError, YamlError
from convshape.footprint import footprint
from convshape.lint import lint
from convshape.results import FileResult, with_batch
from convshape.spec.parse import Parser
from convshape.spec.yamlio import MAX_BYTES, YList, YMap, decode, parse_text, read_file

STDIN = "<stdin>"  # the display name of a side read from stdin
GIT_TIMEOUT = 30  # seconds, for each git command
MAX_INCLUDE_FILES = 256  # files read from a revision for one spec's ``include:``

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
