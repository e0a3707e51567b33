"""``convshape draw``: the SVG parses and holds one node per drawn module, every arrow carries a
shape, branches fan out and merge, errors are red; the mermaid text is a well-formed flowchart;
the drawings in docs/ are what the command draws now."""

from __future__ import annotations

import importlib.util
import re
import xml.etree.ElementTree as ET
from collections import Counter
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from helpers import ROOT, cli, run_cli, write

from convshape.draw import mermaid, svg
from convshape.errors import MismatchError
from convshape.render import default_depth, display_rows
from convshape.results import FileResult, check_file

SVG = "{http://www.w3.org/2000/svg}"
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
SHAPE = re.compile(r"^(\d+(×\d+)*|scalar)$")
RED = "#d32f2f"


@cache
def checked(path: Path) -> FileResult:
    return check_file(str(path))


def drawn_modules(result: FileResult, depth: int | None) -> list[str]:
    """The paths the drawing must have a node for: the table's rows at the same depth, less
    open Sequentials (drawn as frames or lanes) and empty ones (the identity: an arrow)."""
    chosen = depth if depth is not None else default_depth(result)
    paths = []
    for row in display_rows(result, chosen, collapse=depth is None):
        node = row.node
        opened = row.times == 1 and (chosen is None or node.depth < chosen)
        if node.layer is None and not node.children:
            continue
        if node.layer is None and opened and node.type_name == "Sequential":
            continue
        paths.append(node.path)
    return paths


def nodes(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]


def edge_labels(root: ET.Element) -> list[str]:
    edges = [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]
    return [(g.find(f"{SVG}text").text or "") for g in edges]  # type: ignore[union-attr]


class Flowchart:
    """The parts of mermaid text: node definitions and edges (source, label, target)."""

    NODE = re.compile(r"^\s*(\w+)(\(\[|\[\[|\{\{|\[/|\[)\"(.*)\"(\]\)|\]\]|\}\}|\\\]|\])$")
    EDGE = re.compile(r'^\s*(\w+) -->\|"([^"]*)"\| (\w+)$')

    def __init__(self, text: str) -> None:
        lines = text.splitlines()
        assert lines[0] == "flowchart TD"
        self.nodes: dict[str, str] = {}
        self.edges: list[tuple[str, str, str]] = []
        depth = 0
        for line in lines[1:]:
            stripped = line.strip()
            if stripped.startswith(("%%", "classDef ", "class ")):
                continue
            if stripped.startswith("subgraph "):
                depth += 1
            elif stripped == "end":
                depth -= 1
                assert depth >= 0
            elif edge := self.EDGE.match(line):
                self.edges.append((edge[1], edge[2], edge[3]))
            else:
                node = self.NODE.match(line)
                assert node, f"not a node, an edge or a subgraph: {line!r}"
                assert node[1] not in self.nodes, f"{node[1]} defined twice"
                self.nodes[node[1]] = node[3]
        assert depth == 0, "a subgraph is not closed"
        for source, _, target in self.edges:
            assert source in self.nodes and target in self.nodes, (source, target)

    @property
    def modules(self) -> list[str]:
        return [ident for ident in self.nodes if re.fullmatch(r"m\d+", ident)]


# ---------------------------------------------------------------------------- every config


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_the_svg_has_one_node_per_drawn_module(path: Path) -> None:
    result = checked(path)
    root = ET.fromstring(svg(result))
    paths = [g.get("data-path") for g in nodes(root)]
    assert Counter(paths) == Counter(drawn_modules(result, None))
    ids = [g.get("id") for g in nodes(root)]
    assert len(set(ids)) == len(ids)
    labels = edge_labels(root)
    assert labels and all(SHAPE.match(label) for label in labels), labels
    assert not [g for g in nodes(root) if "error" in g.get("class", "")]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_the_mermaid_has_one_node_per_drawn_module(path: Path) -> None:
    result = checked(path)
    chart = Flowchart(mermaid(result))
    assert len(chart.modules) == len(drawn_modules(result, None))
    assert all(SHAPE.match(label) for _, label, _ in chart.edges)


@pytest.mark.parametrize(
    ("config", "depth"),
    [
        ("resnet18", 1),
        ("resnet18", 5),
        ("googlenet", 3),
        ("shufflenet_v2_x1_0", 4),
        ("mobilenet_v3_large", 4),
        ("unet", 14),
    ],
    ids=lambda v: str(v),
)
def test_an_explicit_depth_draws_every_module_down_to_it(config: str, depth: int) -> None:
    result = checked(ROOT / "configs" / f"{config}.yaml")
    root = ET.fromstring(svg(result, depth))
    expected = drawn_modules(result, depth)
    assert Counter(g.get("data-path") for g in nodes(root)) == Counter(expected)
    assert len(Flowchart(mermaid(result, depth)).modules) == len(expected)


# ---------------------------------------------------------------------------------- branches

RESIDUAL = """
input: [1, 4, 8, 8]
layers:
  - type: Residual
    body:
      - {type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}
      - ReLU
"""
CONCAT = """
input: [1, 4, 8, 8]
layers:
  - type: Concat
    branches:
      - [{type: Conv2d, out_channels: 2, kernel_size: 1}]
      - [{type: Conv2d, out_channels: 3, kernel_size: 1}]
      - []
"""
SPLIT = """
input: [1, 4, 8, 8]
layers:
  - type: Split
    sizes: [1, 3]
    branches:
      - []
      - [{type: Conv2d, out_channels: 3, kernel_size: 1}]
"""


def chart_of(tmp_path: Path, text: str) -> Flowchart:
    out = cli("draw", str(write(tmp_path, text)), "-f", "mermaid")
    assert out.code == 0, out.stderr
    return Flowchart(out.stdout)


def merge_of(chart: Flowchart) -> str:
    return next(i for i, label in chart.nodes.items() if ": " in label)


@pytest.mark.parametrize(
    ("spec", "operation", "into_merge", "identities"),
    [
        (RESIDUAL, "add", ["1×4×8×8", "1×4×8×8"], 1),
        (CONCAT, "cat dim=1", ["1×2×8×8", "1×3×8×8", "1×4×8×8"], 1),
        (SPLIT, "cat dim=1", ["1×1×8×8", "1×3×8×8"], 1),
    ],
    ids=["residual-identity-shortcut", "concat-three-branches", "split-two-pieces"],
)
def test_branches_fan_out_and_merge(
    tmp_path: Path, spec: str, operation: str, into_merge: list[str], identities: int
) -> None:
    chart = chart_of(tmp_path, spec)
    merge = merge_of(chart)
    assert chart.nodes[merge].endswith(operation)
    arrows = [(source, label) for source, label, target in chart.edges if target == merge]
    assert sorted(label for _, label in arrows) == sorted(into_merge)
    fork = next((i for i in chart.nodes if i.startswith("split")), "io1")  # else the input
    straight = [source for source, _ in arrows if source == fork]  # the identity lanes
    assert len(straight) == identities


def test_the_svg_fans_out_under_a_bar_and_the_identity_runs_to_the_merge(tmp_path: Path) -> None:
    out = cli("draw", str(write(tmp_path, RESIDUAL)))
    root = ET.fromstring(out.stdout)
    fan = root.find(f".//{SVG}path[@class='fan']")
    assert fan is not None
    bar_y = float(re.findall(r"[\d.]+", fan.get("d", ""))[1])
    merge = next(g for g in nodes(root) if g.get("data-kind") == "merge")
    merge_top = float(merge.find(f"{SVG}rect").get("y", ""))  # type: ignore[union-attr]
    spans = []
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "edge":
            numbers = [float(n) for n in re.findall(r"[\d.]+", g[0].get("d", ""))]
            spans.append((numbers[1], numbers[2]))
    assert (bar_y, merge_top - 1) in spans  # one arrow from the bar straight into the merge
    assert len(nodes(root)) == 3  # Conv2d, ReLU, the Residual's merge


# -------------------------------------------------------------------------------------- red

TOO_SMALL = """
input: [1, 3, 4, 4]
layers:
  - {type: Conv2d, out_channels: 8, kernel_size: 3}
  - ReLU
  - {type: Conv2d, out_channels: 8, kernel_size: 5}
"""


@pytest.mark.parametrize("fmt", ["svg", "mermaid"])
def test_a_shape_error_draws_what_was_predicted_and_the_failing_layer_red(
    tmp_path: Path, fmt: str
) -> None:
    out = cli("draw", str(write(tmp_path, TOO_SMALL)), "-f", fmt)
    assert out.code == 1
    assert "kernel" in out.stderr
    if fmt == "mermaid":
        chart = Flowchart(out.stdout)
        assert len(chart.modules) == 3
        assert re.search(r"^    class m\d+ error$", out.stdout, re.M)
        return
    root = ET.fromstring(out.stdout)
    assert [g.get("data-path") for g in nodes(root)] == ["0", "1", "2"]
    failed = [g for g in nodes(root) if "error" in g.get("class", "").split()]
    assert [g.get("data-path") for g in failed] == ["2"]
    assert failed[0].find(f"{SVG}rect").get("stroke") == RED  # type: ignore[union-attr]
    assert "kernel" in "".join(failed[0].itertext())


def test_a_verification_mismatch_is_red_on_the_module_it_names() -> None:
    result = check_file(str(ROOT / "configs" / "resblk.yaml"))
    result.errors.append(MismatchError("torch gave [2, 128, 30, 30]").located(
        layer_path="resblk.body.conv2"))  # fmt: skip
    root = ET.fromstring(svg(result))
    red = [g.get("data-path") for g in nodes(root) if "error" in g.get("class", "").split()]
    assert red == ["resblk.body.conv2"]


@pytest.mark.torch
def test_a_verified_config_has_nothing_red() -> None:
    out = cli("draw", str(ROOT / "configs" / "resblk.yaml"), "--verify")
    assert out.code == 0, out.stderr
    assert RED not in out.stdout
    assert "verified on cpu" in out.stdout


# ------------------------------------------------------------------------ the command, docs


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_drawings", ROOT / "bench" /
                                                  "render_drawings.py")  # fmt: skip
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DRAWINGS = bench().DRAWINGS


@pytest.mark.parametrize(("name", "config", "extra"), DRAWINGS, ids=[d[0] for d in DRAWINGS])
def test_the_drawings_in_docs_are_what_the_command_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, config: str, extra: tuple[str, ...]
) -> None:
    monkeypatch.chdir(ROOT)  # the drawing's title names the config as given
    out = cli("draw", config, *extra, "-o", str(tmp_path / name))
    assert out.code == 0, out.stderr
    assert (tmp_path / name).read_text() == (ROOT / "docs" / name).read_text()


def test_the_docs_readme_shows_each_drawing_and_the_mermaid_text() -> None:
    text = (ROOT / "docs" / "README.md").read_text()
    assert text == bench().readme((ROOT / "docs" / "resnet18.mmd").read_text())
    for name, _, _ in DRAWINGS:
        assert f"docs/{name}" in text


@pytest.mark.parametrize(
    ("args", "first"),
    [
        (("-f", "mermaid"), "flowchart TD"),
        (("-o", "x.mmd"), "flowchart TD"),
        (("-o", "x.svg"), "<svg "),
        ((), "<svg "),
        (("-o", "x.mmd", "-f", "svg"), "<svg "),
    ],
    ids=["format-mermaid", "mmd-suffix", "svg-suffix", "default-svg", "format-wins"],
)
def test_the_format_comes_from_the_option_or_the_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], first: str
) -> None:
    monkeypatch.chdir(tmp_path)
    out = cli("draw", str(ROOT / "configs" / "lenet5.yaml"), *args)
    assert out.code == 0, out.stderr
    written = next(iter(tmp_path.iterdir())).read_text() if "-o" in args else out.stdout
    assert written.startswith(first)


def test_drawing_needs_neither_torch_nor_graphviz() -> None:
    done = run_cli("draw", "configs/resnet18.yaml", "-f", "svg", block_torch=True,
                   env={"PATH": ""})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(nodes(ET.fromstring(done.stdout))) == len(drawn_modules(checked(
        ROOT / "configs" / "resnet18.yaml"), None))  # fmt: skip


def test_drawing_over_the_spec_itself_is_refused(tmp_path: Path) -> None:
    spec = write(tmp_path, RESIDUAL)
    out = cli("draw", str(spec), "-o", str(spec))
    assert out.code != 0
    assert spec.read_text().startswith("input:")
