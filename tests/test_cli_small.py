"""The small things a user hits: --version, a directory argument, pasted layer calls and
shapes, `convshape layers NAME`."""

from __future__ import annotations

from pathlib import Path

from helpers import ROOT, cli, write


def test_version() -> None:
    out = cli("--version")
    assert out.code == 0
    assert out.stdout.startswith("convshape ")


def test_a_directory_checks_its_yaml_files(tmp_path: Path) -> None:
    good = "input: [1, 3, 8, 8]\nlayers: [ReLU]\n"
    write(tmp_path, good, "a.yaml")
    write(tmp_path, good, "b.yml")
    write(tmp_path, "not a spec", "notes.txt")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "broken: [", "c.yaml")  # subfolders are not read
    out = cli("check", "--no-verify", "-q", str(tmp_path))
    assert out.code == 0, out.stderr
    assert [line.split(":")[0] for line in out.stdout.splitlines()] == [
        str(tmp_path / "a.yaml"),
        str(tmp_path / "b.yml"),
    ]


def test_the_shipped_configs_folder() -> None:
    out = cli("check", "--no-verify", "-q", str(ROOT / "configs"))
    assert out.code == 0, out.stderr
    assert len(out.stdout.splitlines()) == len(list((ROOT / "configs").glob("*.yaml")))


def test_a_directory_without_specs_is_an_error_for_that_argument(tmp_path: Path) -> None:
    out = cli("check", "--no-verify", "-q", str(tmp_path), str(ROOT / "configs" / "lenet5.yaml"))
    assert out.code == 1
    assert out.stderr == f"{tmp_path}: is a directory with no *.yaml or *.yml file\n"
    assert "lenet5.yaml: ok" in out.stdout


def test_calc_takes_what_people_paste() -> None:
    plain = cli("calc", "Conv2d(16, 33, 3, stride=2)", "--input", "1,16,50,50")
    for call in ("nn.Conv2d(16, 33, 3, stride=2)", "torch.nn.Conv2d(16, 33, 3, stride=2)"):
        for shape in ("1x16x50x50", "1X16X50X50", "[1, 16, 50, 50]"):
            out = cli("calc", call, "--input", shape)
            assert (out.code, out.stdout) == (0, plain.stdout)


def test_calc_refuses_other_owners() -> None:
    out = cli("calc", "np.Conv2d(16, 33, 3)", "--input", "1x16x50x50")
    assert out.code == 1
    assert "expected a layer call such as Conv2d(3, 8, 3) or nn.Conv2d(3, 8, 3)" in out.stderr


def test_layers_explains_one_type() -> None:
    out = cli("layers", "Conv2d")
    assert out.code == 0
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Conv2d(in_channels, out_channels, kernel_size, stride=1")
    assert "  in_channels: PosInt, required  (inferred from the input when left out)" in lines
    assert "  padding_mode: PaddingMode, default 'zeros'" in lines
    assert "module: torch.nn.Conv2d" in lines
    assert cli("layers", "torch.nn.Conv2d").stdout == out.stdout


def test_layers_unknown_type_suggests() -> None:
    out = cli("layers", "Conv2D")
    assert out.code == 1
    assert "unknown layer type 'Conv2D'" in out.stderr
    assert "Conv2d" in out.stderr
