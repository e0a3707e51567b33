"""The table drawn without rich (the fast path of ``check``) is rich's table, byte for byte."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from helpers import ROOT, write

from convshape import cli_check
from convshape.check import check_file
from convshape.render import plain_table

CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))


def shown(path: str, depth: int | None, columns: str, fast: bool, monkeypatch: pytest.MonkeyPatch,
          **options: object) -> str:  # fmt: skip
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setattr(cli_check, "_rich_would_style_stdout", lambda: not fast)
    result = check_file(path, **options)  # type: ignore[arg-type]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli_check._show(result, "table", depth, quiet=False)
    return out.getvalue()


@pytest.mark.parametrize("depth", [None, 1, 2])
@pytest.mark.parametrize("columns", ["80", "120", "160"])
@pytest.mark.parametrize("config", CONFIGS)
def test_same_as_rich(config: str, columns: str, depth: int | None,
                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    path = f"configs/{config}.yaml"
    rich = shown(path, depth, columns, False, monkeypatch)
    assert shown(path, depth, columns, True, monkeypatch) == rich


@pytest.mark.torch
def test_same_as_rich_with_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    path, options = "configs/resblk.yaml", {"verify": True, "device": "meta"}
    rich = shown(path, None, "120", False, monkeypatch, **options)
    assert "✓" in rich
    assert shown(path, None, "120", True, monkeypatch, **options) == rich


SPEC = """
name: {name}
input: [1, 3, 8, 8]
layers:
  - {{type: Conv2d, out_channels: 4, kernel_size: 3, name: {layer}}}
  - ReLU
"""


@pytest.mark.parametrize(
    ("name", "layer", "drawn"),
    [
        ("plain", "stem", True),
        ("'spaces  and (parens)'", "stem", True),
        ("'[bold]markup'", "stem", False),
        ("'wide 表'", "stem", False),
        ("stem", "表", False),
        ("'tab\tname'", "stem", False),
        (
            "'a very long title that will not fit above so narrow a table, which rich wraps'",
            "stem",
            False,
        ),
    ],
    ids=["plain", "spaces", "markup", "wide-title", "wide-cell", "tab", "long-title"],
)
def test_unsure_text_is_left_to_rich(tmp_path: Path, name: str, layer: str, drawn: bool,
                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    write(tmp_path, SPEC.format(name=name, layer=layer))
    monkeypatch.chdir(tmp_path)
    path = "model.yaml"
    result = check_file(path)
    assert result.ok, result.errors
    assert (plain_table(result, None, 160) is not None) == drawn
    rich = shown(path, None, "160", False, monkeypatch)
    assert shown(path, None, "160", True, monkeypatch) == rich


def test_same_as_rich_for_a_partial_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        tmp_path, SPEC.format(name="bad", layer="stem").replace("kernel_size: 3", "kernel_size: 9")
    )
    monkeypatch.chdir(tmp_path)
    rich = shown("model.yaml", None, "120", False, monkeypatch)
    assert shown("model.yaml", None, "120", True, monkeypatch) == rich
