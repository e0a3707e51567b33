"""convshape against its peers, every pair measured in the same run: ``python bench/run.py``.

Prints Markdown (the README's "Performance" section is a copy of it). The orchestration is
standard library only; whatever needs torch or a peer runs in a fresh child
(``bench/child.py``), one per measurement, so that imports never leak between tools and
``os.wait4`` gives each command's own peak RSS. Generated specs (a 10,000-layer spec, 100
copies of ResNet-50, ResNet-50 at 64x3x2048x2048) go to a temporary directory.

Children run with Python's bytecode cache on, kept in a temporary ``PYTHONPYCACHEPREFIX``
(as an installed package has it; this repository's environment may set
PYTHONDONTWRITEBYTECODE), after one untimed warm-up; one row shows the cost without it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = str(ROOT / "bench" / "child.py")
PY = sys.executable
PEERS = ["torchinfo", "fvcore", "ptflops", "thop", "FlopCounterMode"]
MB = 2**20


@dataclass(frozen=True)
class Measured:
    seconds: float  # median wall time
    rss: int  # largest peak RSS of the runs, bytes


# ------------------------------------------------------------------------ measuring


def _once(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return seconds, usage.ru_maxrss * 1024  # Linux reports KiB


def processes(cmds: dict[str, list[str]], env: dict[str, str], repeat: int) -> dict[str, Measured]:
    """Whole-process time and peak RSS; the commands take turns, so drift hits all alike."""
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in cmds}
    for cmd in cmds.values():
        _once(cmd, env)  # warm-up: bytecode cache, file cache
    for _ in range(repeat):
        for name, cmd in cmds.items():
            runs[name].append(_once(cmd, env))
    return {
        name: Measured(statistics.median(s for s, _ in r), max(m for _, m in r))
        for name, r in runs.items()
    }


def in_process(tool: str, spec: Path, env: dict[str, str], repeat: int) -> dict[str, object]:
    proc = subprocess.run(
        [PY, CHILD, "time", tool, str(spec), str(repeat)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{tool} on {spec.name} failed:\n{proc.stderr[-2000:]}")
    out: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# ------------------------------------------------------------------------ generated specs


def deep_spec(path: Path, layers: int = 10_000) -> Path:
    """``layers`` leaf layers in one list: (Conv2d 3x3, BatchNorm2d, ReLU) repeated."""
    unit = [
        "  - {type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}",
        "  - BatchNorm2d",
        "  - {type: ReLU, inplace: true}",
    ]
    lines = [f"name: deep-{layers}", "input: [1, 16, 32, 32]", "layers:"]
    lines += [unit[i % 3] for i in range(layers)]
    path.write_text("\n".join(lines) + "\n")
    return path


def copies(folder: Path, source: Path, n: int) -> list[str]:
    folder.mkdir()
    text = source.read_text()
    paths = [folder / f"{source.stem}_{i:03d}.yaml" for i in range(n)]
    for p in paths:
        p.write_text(text)
    return [str(p) for p in paths]


def big_input(path: Path, source: Path, shape: str) -> Path:
    """``source`` with another input shape; its ``expect:`` checks are for 224x224, so dropped."""
    text = re.sub(r"^input: .*$", f"input: {shape}", source.read_text(), count=1, flags=re.M)
    path.write_text(re.sub(r",\s*expect: \[[^\]]*\]", "", text))
    return path


# ------------------------------------------------------------------------ formatting


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.0995 else f"{seconds * 1000:.1f} ms"


def mib(n_bytes: int) -> str:
    return f"{n_bytes / MB:,.0f} MB"


def times(a: float, b: float) -> str:
    """How many times longer ``a`` takes than ``b``."""
    return f"{a / b:,.1f}x"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---"] + ["--:"] * (len(header) - 1)
    return [f"| {' | '.join(r)} |" for r in [header, align, *rows]]


def machine() -> str:
    cpu = platform.processor() or "?"
    ram = 0
    try:
        info = Path("/proc/cpuinfo").read_text()
        cpu = next(
            line.split(":", 1)[1].strip() for line in info.splitlines() if "model name" in line
        )
        mem = Path("/proc/meminfo").read_text()
        ram = int(re.search(r"MemTotal:\s+(\d+)", mem)[1]) * 1024  # type: ignore[index]
    except (OSError, StopIteration, TypeError):
        pass
    versions = []
    for pkg in ["torch", "torchinfo", "fvcore", "ptflops", "thop", "pyyaml"]:
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg} (missing)")
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return (
        f"{cpu}, {os.cpu_count()} cores, {ram / 2**30:.0f} GiB RAM, no GPU; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"{', '.join(versions)}; convshape {commit or '?'}"
    )


# ------------------------------------------------------------------------ the four parts


def process_row(label: str, m: Measured, ratio: str) -> list[str]:
    return [label, ms(m.seconds), mib(m.rss), ratio]


def part_processes(
    env: dict[str, str], cold: dict[str, str], repeat: int
) -> tuple[list[str], dict[str, Measured]]:
    check = [str(Path(PY).with_name("convshape")), "check", "--no-verify", "configs/resnet50.yaml"]
    if not Path(check[0]).exists():
        check[:1] = [PY, "-m", "convshape"]
    cmds = {
        "check": check,
        "torch": [PY, "-c", "import torch"],
        "torchinfo": [PY, CHILD, "summary", "configs/resnet50.yaml"],
    }
    got = processes(cmds, env, repeat)
    got["cold"] = processes({"cold": check}, cold, repeat)["cold"]
    base = got["check"].seconds
    labels = {
        "check": "`convshape check --no-verify configs/resnet50.yaml`",
        "torch": '`python -c "import torch"`',
        "torchinfo": "import torch, build ResNet-50 (`convshape.build`), print `torchinfo.summary`",
        "cold": "the same `convshape check` without bytecode cache (`PYTHONDONTWRITEBYTECODE=1`)",
    }
    rows = [process_row(labels[k], got[k], times(got[k].seconds, base)) for k in labels]
    lines = ["### 1. Whole process: formula-only check vs torch and torchinfo", ""]
    lines += table(["Process", "Time", "Peak RSS", "vs convshape"], rows)
    return lines, got


def part_in_process(
    specs: dict[str, Path], env: dict[str, str], repeat: int
) -> tuple[list[str], dict[str, float]]:
    rows, macs_rows, convshape_s = [], [], {}
    for name, spec in specs.items():
        print(f"  in process: {name}", file=sys.stderr)
        results = {tool: in_process(tool, spec, env, repeat) for tool in ["convshape", *PEERS]}
        median = {t: statistics.median(r["seconds"]) for t, r in results.items()}  # type: ignore[call-overload]
        base = convshape_s[name] = median["convshape"]
        peers = [f"{ms(median[t])} ({times(median[t], base)})" for t in PEERS]
        rows.append([name, ms(base), *peers])
        macs_rows.append([name, *(f"{results[t]['result']:,}" for t in ["convshape", *PEERS])])
    lines = [
        "### 2. In process, imports and model building excluded: convshape's load + predict "
        "vs each peer on the built model",
        "",
        *table(["Spec", "convshape", *PEERS], rows),
        "",
        "MACs each reports (FlopCounterMode: its FLOPs / 2; the conventions differ):",
        "",
        *table(["Spec", "convshape", *PEERS], macs_rows),
    ]
    return lines, convshape_s


def part_precommit(
    files: list[str], torch_s: float, env: dict[str, str], repeat: int
) -> tuple[list[str], dict[str, Measured]]:
    check = [PY, "-m", "convshape", "check", "--no-verify"]
    got = processes({"quiet": [*check, "--quiet", *files], "tables": [*check, *files]}, env, repeat)
    n = len(files)
    labels = {
        "quiet": f"`check --no-verify --quiet` (the pre-commit hook), {n} ResNet-50 files",
        "tables": f"`check --no-verify` (a full table each), {n} ResNet-50 files",
    }
    rows = [process_row(labels[k], got[k], times(torch_s, got[k].seconds)) for k in labels]
    lines = [f"### 3. One process over {n} configs (the pre-commit case)", ""]
    lines += table(["Process", "Time", "Peak RSS", "`import torch` / this"], rows)
    return lines, got


def part_verify(
    big: Path, env: dict[str, str], repeat: int
) -> tuple[list[str], dict[str, Measured]]:
    check = [PY, "-m", "convshape", "check", "--verify", "--device"]
    cmds = {
        "cpu, 1x3x224x224": [*check, "cpu", "configs/resnet50.yaml"],
        "meta, 1x3x224x224": [*check, "meta", "configs/resnet50.yaml"],
        "meta, 64x3x2048x2048": [*check, "meta", str(big)],
        "torch": [PY, "-c", "import torch"],  # in the same turns: the ratios' baseline
    }
    got = processes(cmds, env, repeat)
    torch_s = got["torch"].seconds
    rows = [
        [k, ms(m.seconds), mib(m.rss), times(m.seconds, torch_s)]
        for k, m in got.items()
        if k != "torch"
    ]
    lines = ["### 4. Verification of ResNet-50 (`convshape check --verify`, whole process)", ""]
    lines += table(["Device, input", "Time", "Peak RSS", "vs `import torch`"], rows)
    lines += ["", f"`import torch` in the same turns: {ms(torch_s)}."]
    return lines, got


def under(value: float, limit: float) -> tuple[bool, str]:
    """Met or not, and by how much: ``2.0x under`` or ``1.3x over``."""
    return (
        value < limit,
        f"{limit / value:.1f}x under" if value < limit else f"{value / limit:.1f}x over",
    )


def targets(
    one: dict[str, Measured], deep_s: float, many: dict[str, Measured], verify: dict[str, Measured]
) -> list[str]:
    check, torch_s = one["check"], one["torch"].seconds
    vs_torchinfo = one["torchinfo"].seconds / check.seconds
    big = verify["meta, 64x3x2048x2048"].rss
    verify_torch = verify["torch"].seconds
    meta, cpu = verify["meta, 1x3x224x224"].seconds, verify["cpu, 1x3x224x224"].seconds
    before_torch = f"< import torch ({ms(torch_s)})"
    checks = [
        ("formula-only `check` of resnet50, whole process", "< 300 ms", ms(check.seconds),
         *under(check.seconds, 0.3)),
        ("... against `import torch` in the same run", "<= 0.15x",
         f"{check.seconds / torch_s:.3f}x", *under(check.seconds / torch_s, 0.15)),
        ("... faster than the torchinfo process", ">= 10x", f"{vs_torchinfo:.1f}x",
         vs_torchinfo >= 10, f"{vs_torchinfo / 10:.1f}x the target"),
        ("100 ResNet-50 configs, one `check --no-verify --quiet`", before_torch,
         ms(many["quiet"].seconds), *under(many["quiet"].seconds, torch_s)),
        ("... with a full table each (`check --no-verify`)", before_torch,
         ms(many["tables"].seconds), *under(many["tables"].seconds, torch_s)),
        ("10,000-layer spec, load + predict in process", "< 500 ms", ms(deep_s),
         *under(deep_s, 0.5)),
        ("formula-only peak RSS", "< 60 MB", mib(check.rss), *under(check.rss, 60 * MB)),
        ("meta verification at 64x3x2048x2048, peak RSS", "< 1.5 GB", mib(big),
         *under(big, 1.5 * 2**30)),
        ("`check --device meta` of resnet50 / `import torch`", "<= 1.3x",
         f"{meta / verify_torch:.2f}x", *under(meta / verify_torch, 1.3)),
        ("`check --device cpu` of resnet50 / `import torch`", "<= 1.5x",
         f"{cpu / verify_torch:.2f}x", *under(cpu / verify_torch, 1.5)),
    ]  # fmt: skip
    rows = [
        [what, want, got, "met" if ok else "**missed**", by] for what, want, got, ok, by in checks
    ]
    return ["### Targets", "", *table(["Target", "Wanted", "Measured", "", "Margin"], rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch's intra-op threads in every child (OMP_NUM_THREADS); default: torch's own. "
        "1 keeps the peers' times steady on a machine other processes share",
    )
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="convshape-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=str(tmp / "pycache"), NO_COLOR="1")
        env.pop("FORCE_COLOR", None)
        # this checkout's convshape, even where another one is installed (editable or not)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        if args.threads:
            env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        cold = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp / "empty")}
        resnet50 = ROOT / "configs" / "resnet50.yaml"
        specs = {
            "resnet50": resnet50,
            "densenet121": ROOT / "configs" / "densenet121.yaml",
            "10,000 layers": deep_spec(tmp / "deep10k.yaml"),
        }
        many = copies(tmp / "many", resnet50, 100)
        big = big_input(tmp / "resnet50_64x2048.yaml", resnet50, "[64, 3, 2048, 2048]")

        print("1/4 whole process ...", file=sys.stderr)
        out1, one = part_processes(env, cold, args.repeat)
        print("2/4 in process ...", file=sys.stderr)
        out2, deep = part_in_process(specs, env, args.repeat)
        print("3/4 100 configs ...", file=sys.stderr)
        out3, hundred = part_precommit(many, one["torch"].seconds, env, args.repeat)
        print("4/4 verification ...", file=sys.stderr)
        out4, verify = part_verify(big, env, args.repeat)

    load = f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    threads = "" if args.threads else " (torch's default threads)"
    command = f"python bench/run.py --repeat {args.repeat}" + (
        f" --threads {args.threads}" if args.threads else ""
    )
    lines = [
        f"Run {started:%Y-%m-%d %H:%M} UTC with `{command}`{threads}: "
        f"median of {args.repeat} runs after one warm-up; peak RSS is the largest of them.",
        "",
        f"Machine: {machine()}; {load} (other processes share the cores: torch's threads slow "
        "down sharply when they do, so a high load inflates the peers' times).",
        "",
        *targets(one, deep["10,000 layers"], hundred, verify),
        "",
        *out1,
        "",
        *out2,
        "",
        *out3,
        "",
        *out4,
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
