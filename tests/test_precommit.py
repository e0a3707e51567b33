"""A real pre-commit run of the fast hook (pre-commit from PyPI, `pre-commit try-repo`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

GOOD = "input: [1, 3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 3}\n"
BAD = (
    "input: [1, 3, 4, 4]\nlayers:\n  - ReLU\n  - {type: Conv2d, out_channels: 4, kernel_size: 5}\n"
)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    path = tmp_path_factory.mktemp("user-repo")
    git(path, "init", "-q")
    (path / "configs").mkdir()
    (path / "configs" / "good.yaml").write_text(GOOD)
    (path / "configs" / "bad.yaml").write_text(BAD)
    (path / ".github" / "workflows").mkdir(parents=True)
    (path / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    git(path, "add", ".")
    return path


def try_repo(repo: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """``pre-commit try-repo``; skipped where pre-commit or the network it installs the hook
    environment from is unavailable."""
    pytest.importorskip("pre_commit")
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home")}
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "convshape-check",
         "--files", *files],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if "An unexpected error has occurred" in proc.stdout + proc.stderr:
        pytest.skip(f"pre-commit could not set up the hook environment: {proc.stdout[-300:]}")
    return proc


def test_fast_hook_passes_a_good_config(repo: Path) -> None:
    proc = try_repo(repo, "configs/good.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout


def test_fast_hook_fails_a_bad_config_with_the_located_message(repo: Path) -> None:
    proc = try_repo(repo, "configs/good.yaml", "configs/bad.yaml")
    assert proc.returncode == 1
    assert "Failed" in proc.stdout
    assert "bad.yaml:4:5: layers[1] (Conv2d): output height would be 0" in proc.stdout
    assert (repo / "configs" / "bad.yaml").read_text() == BAD  # nothing is modified


def test_fast_hook_leaves_other_yaml_alone(repo: Path) -> None:
    """A CI workflow is YAML but not a spec: the hook's default `files:` skips it."""
    proc = try_repo(repo, ".github/workflows/ci.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no files to check" in proc.stdout


def test_readme_lists_every_hook() -> None:
    readme = (ROOT / "README.md").read_text()
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text()
    for line in hooks.splitlines():
        if line.startswith("- id: "):
            assert line.removeprefix("- id: ") in readme
