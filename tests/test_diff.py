"""``convshape.diff``: the sides (files, stdin, git revisions), the alignment rule, the totals
and the three renderings (golden table and Markdown, JSON). Torch-free."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from helpers import ROOT, write

from convshape.diff import (
    Diff,
    Row,
    check_side,
    check_sides,
    check_text,
    diff,
    diff_json,
    diff_markdown,
    diff_table,
    read_side,
)
from convshape.errors import ConvshapeError, ShapeError, SpecError, UsageError, YamlError
from convshape.results import FileResult, check_file

GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("CONVSHAPE_UPDATE_GOLDEN") == "1"  # rewrite the files, then review
RESNET18 = (ROOT / "configs" / "resnet18.yaml").read_text()


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs (CONVSHAPE_UPDATE_GOLDEN=1 rewrites it)"


def edited(text: str, *changes: tuple[str, str]) -> str:
    """``text`` with each (old, new) replaced exactly once."""
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def resnet18(*changes: tuple[str, str], name: str = "resnet18_edited.yaml") -> FileResult:
    """configs/resnet18.yaml with ``changes``, as text named ``name`` (its folder: configs)."""
    return check_text(edited(RESNET18, *changes), name, folder=ROOT / "configs")


def base() -> FileResult:
    return check_side("configs/resnet18.yaml", ROOT)


def by_path(d: Diff) -> dict[str, Row]:
    return {row.path: row for row in d.rows}


STEM = "{type: Conv2d, out_channels: 64, kernel_size: 7"
POOL = "  - {type: MaxPool2d, kernel_size: 3, stride: 2, padding: 1}\n"
DROPOUT = "  - {type: Dropout, p: 0.2}\n"
STAGE7 = "{type: Stage, channels: 512}"
HEAD = "{type: Linear, out_features: 1000, expect: [1, 1000]}"


# ------------------------------------------------------------------------------- loading


def test_a_side_is_checked_exactly_as_check_file_does() -> None:
    mine, theirs = base(), check_file("configs/resnet18.yaml")
    assert mine.file == "configs/resnet18.yaml" and not mine.errors
    assert mine.totals == theirs.totals
    assert mine.memory == theirs.memory
    assert [(n.path, n.output_shape, n.num_params, n.macs) for n in mine.rows] == [
        (n.path, n.output_shape, n.num_params, n.macs) for n in theirs.rows
    ]
    wide = check_side("configs/resnet18.yaml", ROOT, batch=8, dtype="float16", optimizer="sgd")
    ref = check_file("configs/resnet18.yaml", batch=8, dtype="float16", optimizer="sgd")
    assert wide.memory == ref.memory and wide.totals == ref.totals


def test_identical_sides_have_no_changes() -> None:
    d = diff(base(), check_side(str(ROOT / "configs" / "resnet18.yaml"), Path("/")))
    assert d.counts == {"changed": 0, "added": 0, "removed": 0, "same": 92}
    assert all(f.delta == 0 for f in d.totals)
    table = diff_table(d)
    assert "no module changed (92 compared)" in table
    assert "0 changed, 0 added, 0 removed, 92 unchanged" in table
    assert "No module changed." in diff_markdown(d)


def test_read_side_file_stdin_and_errors(tmp_path: Path) -> None:
    spec = write(tmp_path, "input: [1, 4]\nlayers: [{type: Linear, out_features: 2}]\n")
    assert read_side("model.yaml", tmp_path) == ("model.yaml", spec.read_text())
    assert read_side(str(spec), Path("/")) == (str(spec), spec.read_text())
    assert read_side("-", tmp_path, stdin=io.StringIO("a: 1\n")) == ("<stdin>", "a: 1\n")
    raw = io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfa: 2\n"))  # bytes read through .buffer
    assert read_side("-", tmp_path, stdin=raw) == ("<stdin>", "a: 2\n")
    with pytest.raises(YamlError, match="no such file") as missing:
        read_side("nope.yaml", tmp_path)
    assert missing.value.context.file == "nope.yaml"  # named as typed, not the full path
    with pytest.raises(YamlError, match="binary"):
        read_side("-", tmp_path, stdin=io.BytesIO(b"input: \0"))
    with pytest.raises(YamlError, match="not UTF-8"):
        read_side("-", tmp_path, stdin=io.BytesIO(b"input: \xff"))
    with pytest.raises(YamlError, match="directory"):
        read_side(".", tmp_path)
    with pytest.raises(UsageError, match="empty"):
        read_side("", tmp_path)


def test_stdin_side_reads_includes_from_the_folder(tmp_path: Path) -> None:
    unit = "blocks:\n  Unit: {layers: [{type: Conv2d, out_channels: 8, kernel_size: 3}]}\n"
    write(tmp_path, unit, "common.yaml")
    text = "input: [1, 3, 8, 8]\ninclude: [common.yaml]\nlayers: [Unit, Unit, Unit, Unit]\n"
    ok = check_side("-", tmp_path, stdin=io.StringIO(text.replace("Unit, Unit]", "Unit]")))
    assert ok.file == "<stdin>" and not ok.errors
    assert ok.prediction is not None and ok.prediction.output_shape == (1, 8, 2, 2)
    bad = check_side("-", tmp_path, stdin=io.StringIO(text))
    (err,) = bad.errors
    assert err.headline.startswith("common.yaml:2:")  # relative to the folder, not absolute
    assert "block Unit used at <stdin>:3:" in (err.context.via or "")
    with pytest.raises(ShapeError, match="would be 0"):
        diff(ok, bad)


def test_only_one_side_reads_stdin(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="only one side"):
        check_sides("-", "-", tmp_path, stdin=io.StringIO(""))
    lenet = (ROOT / "configs" / "lenet5.yaml").read_text()
    narrower = io.StringIO(edited(lenet, ("out_features: 84", "out_features: 80")))
    old, new = check_sides("configs/lenet5.yaml", "-", ROOT, stdin=narrower)
    d = diff(old, new)
    assert d.figure("params").delta == (80 - 84) * 120 + (80 - 84) * 10 - 4  # weights, bias
    assert d.counts["changed"] == 3  # the Linear, its Tanh, the next Linear


def test_an_invalid_side_is_an_error_naming_that_side(tmp_path: Path) -> None:
    good = base()
    write(
        tmp_path,
        "input: [1, 3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 9}\n",
    )
    with pytest.raises(ShapeError) as shape:
        diff(good, check_side("model.yaml", tmp_path))
    assert shape.value.headline.startswith("model.yaml:3:5: layers[0]")
    write(tmp_path, "input: [1, 3, 8, 8]\nlayers: [{type: Conv2x}]\n", "typo.yaml")
    with pytest.raises(SpecError, match="Conv2d"):
        diff(check_side("typo.yaml", tmp_path), good)
    with pytest.raises(YamlError, match="no such file") as missing:
        diff(good, check_side("gone.yaml", tmp_path))
    assert missing.value.headline == "gone.yaml: no such file"
    stdin = check_side("-", tmp_path, stdin=io.StringIO("input: [1, 3]\nlayers: [Conv2d]\n"))
    with pytest.raises(ConvshapeError) as located:
        diff(stdin, good)
    assert str(located.value).startswith("<stdin>:2:")


# ----------------------------------------------------------------------------- alignment


def test_one_conv_wider_changes_it_and_what_follows() -> None:
    d = diff(base(), resnet18((STEM, STEM.replace("64", "48"))))
    rows = by_path(d)
    stem = rows["0"]
    assert stem.status == "changed" and stem.old and stem.new
    assert (stem.old.output_shape, stem.new.output_shape) == ((1, 64, 112, 112), (1, 48, 112, 112))
    assert stem.delta("params") == (48 - 64) * 3 * 7 * 7
    # 48 -> 64 channels: the first block's shortcut becomes a projection (added rows)
    added = [r.path for r in d.rows if r.status == "added"]
    assert added == ["4.0.0.shortcut", "4.0.0.shortcut.0", "4.0.0.shortcut.1"]
    assert rows["4.1"].status == "same" and rows["5"].status == "same"
    leaves = sum(r.delta("params") or 0 for r in d.rows if not r.side.container)
    assert leaves == d.figure("params").delta  # leaf deltas add up to the total's


def test_a_layer_added_keeps_the_later_layers_aligned() -> None:
    d = diff(base(), resnet18((POOL, POOL + DROPOUT)))
    assert d.counts == {"changed": 0, "added": 1, "removed": 0, "same": 92}
    (row,) = d.changes
    assert (row.status, row.path, row.side.type) == ("added", "4", "Dropout")
    stage = next(r for r in d.rows if r.old and r.old.path == "4")
    assert stage.new and stage.new.path == "5" and stage.status == "same"  # index shift only
    assert all(f.delta == 0 for f in d.totals if f.key != "saved_activation_bytes")
    twice = resnet18((POOL, POOL + DROPOUT), ("  - Flatten\n", "  - Flatten\n" + DROPOUT))
    d2 = diff(base(), twice)  # the run between the two insertions is matched in full
    assert [(r.path, r.status) for r in d2.changes] == [("4", "added"), ("11", "added")]
    assert next(r for r in d2.rows if r.new and r.new.type == "Linear").old
    full = diff_table(d, only_changes=False).splitlines()
    assert any(re.match(r"5 +same +Stage \(Sequential\) ", line) for line in full), full
    assert len(full) == len(diff_table(d).splitlines()) + 92


def test_a_layer_removed() -> None:
    d = diff(
        base(),
        resnet18(("  - Flatten\n", ""), (HEAD, HEAD.replace("[1, 1000]", "[1, 512, 1, 1000]"))),
    )
    removed = [r for r in d.rows if r.status == "removed"]
    assert [(r.path, r.side.type) for r in removed] == [("9", "Flatten")]
    assert removed[0].new is None and removed[0].delta("params") == 0
    head = next(r for r in d.rows if r.new and r.new.type == "Linear")
    assert head.old and (head.old.path, head.new.path) == ("10", "9")
    assert head.status == "changed"  # its output shape
    assert d.figure("params").delta == (1 * 1000 + 1000) - 513_000  # Linear(1, 1000) now


def test_a_renamed_block_changes_only_its_rows() -> None:
    text = RESNET18.replace("BasicBlock", "ResBlock")
    d = diff(base(), check_text(text, "renamed.yaml", folder=ROOT / "configs"))
    changed = [r.path for r in d.changes]
    assert changed == ["4.0", "4.1", "5.0", "5.1", "6.0", "6.1", "7.0", "7.1"]
    row = d.changes[0]
    assert row.old and row.new
    assert (row.old.type_text, row.new.type_text) == (
        "BasicBlock (Sequential)",
        "ResBlock (Sequential)",
    )
    assert "BasicBlock (Sequential) -> ResBlock (Sequential)" in diff_table(d)
    assert all(f.delta == 0 for f in d.totals)


NAMED = """
input: [1, 3, 16, 16]
layers:
  - {type: Conv2d, out_channels: 8, kernel_size: 3, name: stem}
  - {type: ReLU, name: act}
  - {type: Sequential, name: trunk, layers: [{type: Conv2d, out_channels: 8, kernel_size: 3}]}
  - {type: Flatten, name: flat}
  - {type: Linear, out_features: 10, name: fc}
"""


def named(tmp_path: Path, text: str, file: str) -> FileResult:
    write(tmp_path, text, file)
    return check_side(file, tmp_path)


def test_names_align_first_even_when_moved(tmp_path: Path) -> None:
    moved = NAMED.replace("  - {type: ReLU, name: act}\n", "").replace(
        "layers: [{type: Conv2d", "layers: [{type: ReLU, name: act}, {type: Conv2d"
    )
    d = diff(named(tmp_path, NAMED, "a.yaml"), named(tmp_path, moved, "b.yaml"))
    act = next(r for r in d.rows if r.name == "act")
    assert act.old and act.new and (act.old.path, act.new.path) == ("act", "trunk.act")
    assert act.status == "changed"  # moved into another container
    assert [r.status for r in d.rows].count("removed") == 0
    assert [r.status for r in d.rows].count("added") == 0
    assert by_path(d)["fc"].status == "same"
    assert "act -> trunk.act" in diff_table(d)


def test_a_renamed_module_pairs_with_its_old_self(tmp_path: Path) -> None:
    renamed = NAMED.replace("name: trunk", "name: body")
    d = diff(named(tmp_path, NAMED, "a.yaml"), named(tmp_path, renamed, "b.yaml"))
    assert [(r.status, r.old and r.old.path, r.new and r.new.path) for r in d.changes] == [
        ("changed", "trunk", "body"),
        ("changed", "trunk.0", "body.0"),  # its key in the state_dict changed
    ]
    other = NAMED.replace("{type: Flatten, name: flat}", "{type: Flatten, name: flatten}")
    d = diff(named(tmp_path, NAMED, "a.yaml"), named(tmp_path, other, "c.yaml"))
    (row,) = d.changes
    assert row.old and row.new and (row.old.path, row.new.path) == ("flat", "flatten")


def test_a_type_changed_in_place_pairs_with_the_old_layer(tmp_path: Path) -> None:
    gelu = NAMED.replace("{type: ReLU, name: act}", "{type: GELU, name: act}")
    unnamed = NAMED.replace(", name: act}", "}")
    d = diff(named(tmp_path, NAMED, "a.yaml"), named(tmp_path, gelu, "b.yaml"))
    act, conv = d.changes  # GELU saves its input, so the next conv's input is saved anew
    assert (act.path, act.status, conv.path) == ("act", "changed", "trunk.0")
    assert conv.old and conv.new and conv.old.params == conv.new.params
    assert (conv.old.saved_bytes, conv.new.saved_bytes) == (0, 8 * 14 * 14 * 4)
    other = unnamed.replace("{type: ReLU}", "{type: GELU}")
    d = diff(named(tmp_path, unnamed, "c.yaml"), named(tmp_path, other, "d.yaml"))
    row = d.changes[0]
    assert (row.path, row.old and row.old.type, row.new and row.new.type) == ("1", "ReLU", "GELU")


def test_a_huge_rewrite_still_aligns_quickly(tmp_path: Path) -> None:
    many = "input: [1, 8]\nlayers:\n" + "  - {type: Linear, out_features: 8}\n  - Tanh\n" * 300
    other = many.replace("  - Tanh\n", "  - Sigmoid\n", 280)  # both save their output
    start = time.perf_counter()
    d = diff(named(tmp_path, many, "a.yaml"), named(tmp_path, other, "b.yaml"))
    assert d.counts == {"changed": 280, "added": 0, "removed": 0, "same": 320}
    assert time.perf_counter() - start < 5  # paired by position past the matching budget


# ------------------------------------------------------------------------------------ git


def git(cwd: Path, *args: str) -> None:
    who = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *who, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

UNIT = """
blocks:
  Unit:
    params: {c: null}
    layers:
      - {type: Conv2d, out_channels: $c, kernel_size: 3, padding: 1}
      - ReLU
"""
MODEL = """
name: tiny
input: [1, 3, 16, 16]
include: [blocks/unit.yaml]
layers:
  - {type: Unit, c: 8, name: stem}
  - Flatten
  - {type: Linear, out_features: 10, name: head}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    (tmp_path / "configs" / "blocks").mkdir(parents=True)
    write(tmp_path / "configs", UNIT, "blocks/unit.yaml")
    write(tmp_path / "configs", MODEL, "model.yaml")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "one")
    return tmp_path


@needs_git
def test_git_revision_against_the_working_file(repo: Path) -> None:
    write(repo / "configs", MODEL.replace("c: 8", "c: 16"), "model.yaml")
    old, new = check_sides("HEAD:configs/model.yaml", "configs/model.yaml", repo)
    d = diff(old, new)
    assert (d.old, d.new) == ("HEAD:configs/model.yaml", "configs/model.yaml")
    stem = by_path(d)["stem.0"]
    assert stem.old and stem.new and (stem.old.params, stem.new.params) == (224, 448)
    assert d.figure("params").delta == 224 + 2048 * 10  # the conv, then the Linear's inputs
    # from a subfolder: './' is relative to it, as git reads it
    same = diff(check_side("HEAD:./model.yaml", repo / "configs"), old)
    assert same.counts["changed"] == 0


@needs_git
def test_git_side_reads_its_includes_from_the_same_revision(repo: Path) -> None:
    wider = UNIT.replace("kernel_size: 3, padding: 1", "kernel_size: 5, padding: 2")
    write(repo / "configs", wider, "blocks/unit.yaml")
    d = diff(check_side("HEAD:configs/model.yaml", repo), check_side("configs/model.yaml", repo))
    conv = by_path(d)["stem.0"]
    assert conv.old and conv.new
    assert (conv.old.params, conv.new.params) == (3 * 8 * 9 + 8, 3 * 8 * 25 + 8)
    # an error in an included file at a revision points into that revision's file
    broken = UNIT.replace("padding: 1", "padding: 1, stride: 99, dilation: 9")
    write(repo / "configs", broken, "blocks/unit.yaml")
    git(repo, "commit", "-qam", "two")
    (err,) = check_side("HEAD:configs/model.yaml", repo).errors
    assert err.headline.startswith("HEAD:configs/blocks/unit.yaml:5:9: ")
    assert "used at HEAD:configs/model.yaml:5:5" in (err.context.via or "")
    assert "convshape-diff-" not in err.render()  # no temporary folder shown


@needs_git
def test_git_errors_are_usage_errors(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    def error(arg: str, cwd: Path = repo) -> ConvshapeError:
        result = check_side(arg, cwd)
        assert result.usage_error, result.errors
        with pytest.raises(UsageError) as exc:
            diff(result, result)
        return exc.value

    assert "unknown revision 'nope'" in error("nope:configs/model.yaml").message
    missing = error("HEAD:model.yaml")
    assert "no file 'model.yaml' in revision 'HEAD'" in missing.message
    assert missing.hint and "./" in missing.hint
    assert "is a folder in git" in error("HEAD:configs").message
    assert "outside the repository" in error("HEAD:../x.yaml").message
    assert "cannot start with '-'" in error("--output=x:y").message
    assert "no file after ':'" in error("HEAD:").message
    elsewhere = tmp_path_factory.mktemp("plain")
    assert "not in a git repository" in error("HEAD:model.yaml", elsewhere).message
    plain = MODEL.replace("include: [blocks/unit.yaml]\n", "")
    write(
        repo,
        plain.replace("Unit, c: 8", "Conv2d, out_channels: 8, kernel_size: 3"),
        "HEAD:odd.yaml",
    )
    assert not check_side("HEAD:odd.yaml", repo).errors  # a file of that name is that file


@needs_git
def test_git_missing_is_a_usage_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin-here"))
    (err,) = check_side("HEAD:configs/model.yaml", repo).errors
    assert isinstance(err, UsageError) and "git is not installed" in err.message


@needs_git
def test_index_side(repo: Path) -> None:
    write(repo / "configs", MODEL.replace("out_features: 10", "out_features: 12"), "model.yaml")
    git(repo, "add", "configs/model.yaml")
    write(repo / "configs", MODEL.replace("out_features: 10", "out_features: 14"), "model.yaml")
    d = diff(check_side(":configs/model.yaml", repo), check_side("configs/model.yaml", repo))
    head = by_path(d)["head"]
    assert head.old and head.new
    assert (head.old.output_shape, head.new.output_shape) == ((1, 12), (1, 14))


# ---------------------------------------------------------------------------- renderings


def realistic() -> Diff:
    """ResNet-18 with a dropout after the stem, a narrower last stage and 100 classes."""
    new = resnet18(
        (POOL, POOL + DROPOUT),
        (STAGE7, STAGE7.replace("512", "384")),
        (HEAD, HEAD.replace("1000", "100")),
    )
    return diff(base(), new)


def test_golden_table_and_markdown() -> None:
    d = realistic()
    table = diff_table(d)
    golden("diff_table.txt", table)
    golden("diff_markdown.md", diff_markdown(d))
    lines = table.splitlines()
    assert lines[0] == "configs/resnet18.yaml (ResNet-18) -> resnet18_edited.yaml (ResNet-18)"
    assert lines[2].startswith("------")
    assert "params                 11,689,512      7,789,476    -3,900,036  -33.4%" in table
    assert "1 added, 0 removed" in table and "unchanged not shown" in table
    assert "-474,500" in table  # the Linear: 513,000 -> 38,500 (384 inputs, 100 outputs)
    full = diff_table(d, only_changes=False)
    assert len(full.splitlines()) > len(lines) and "unchanged not shown" not in full


def test_markdown_summary_and_escaping(tmp_path: Path) -> None:
    md = diff_markdown(realistic())
    title, _, summary = md.splitlines()[:3]
    assert (
        title == "### convshape diff: `configs/resnet18.yaml` → `resnet18_edited.yaml` (ResNet-18)"
    )
    assert summary.startswith("params 11,689,512 → 7,789,476 (**-3,900,036**, -33.4%) · MACs ")
    assert summary.endswith(" · unchanged: inference peak")
    assert "| `11` | **added** | Dropout |" not in md and "| `4` | **added** | Dropout |" in md
    text = 'name: "a|b\\x1b[31m"\ninput: [1, 4]\nlayers: [{type: Linear, out_features: 2}]\n'
    odd = check_text(text, "x|y.yaml", folder=tmp_path)
    wider = text.replace("out_features: 2", "out_features: 3")
    other = check_text(wider, "z.yaml", folder=tmp_path)
    md = diff_markdown(diff(odd, other))
    assert "`x\\|y.yaml`" in md and "a\\|b\\x1b[31m" in md and "\x1b" not in md
    assert "\x1b" not in diff_table(diff(odd, other))


def test_markdown_caps_its_rows() -> None:
    d = realistic()
    md = diff_markdown(d, max_rows=5)
    assert md.count("| `") == 5
    assert "... and 21 more changed rows (the JSON output has every row)." in md
    assert "more changed rows" not in diff_markdown(d)


def test_json_shape_is_stable() -> None:
    d = realistic()
    out = diff_json(d)
    assert json.loads(json.dumps(out)) == out
    assert list(out) == ["old", "new", "totals", "counts", "rows"]
    assert (out["old"], out["new"]) == ("configs/resnet18.yaml", "resnet18_edited.yaml")
    assert list(out["totals"]) == [
        "params", "trainable_params", "macs", "flops",
        "param_bytes", "saved_activation_bytes", "inference_peak_bytes",
    ]  # fmt: skip
    assert out["totals"]["params"] == {"old": 11_689_512, "new": 7_789_476, "delta": -3_900_036}
    assert out["totals"]["flops"]["delta"] == 2 * out["totals"]["macs"]["delta"]
    assert out["counts"] == {"changed": 25, "added": 1, "removed": 0, "same": 67}
    assert len(out["rows"]) == len(d.rows) == 93
    added = next(r for r in out["rows"] if r["status"] == "added")
    assert added["old"] is None and added["path"] == "4"
    assert added["new"] == {
        "path": "4", "name": None, "type": "Dropout", "block": None, "depth": 1,
        "output_shape": [1, 64, 56, 56], "params": 0, "macs": 0, "saved_bytes": 802_816,
    }  # fmt: skip
    assert added["delta"] == {"params": 0, "macs": 0, "saved_bytes": 802_816}
    for row in out["rows"]:
        assert list(row) == ["path", "name", "status", "old", "new", "delta"]
        assert row["status"] in ("added", "removed", "changed", "same")
    leaves = [
        r for r in out["rows"] if r["new"] and r["new"]["type"] not in ("Sequential", "Residual")
    ]
    assert sum(r["delta"]["params"] for r in leaves) == out["totals"]["params"]["delta"]
