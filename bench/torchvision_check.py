"""Prove that a convshape config computes the same function as a torchvision model.

The check builds both models in eval mode, draws every parameter and buffer of the torchvision
model at random (so the zeros, ones and tiny constants of an untrained model cannot hide a
difference), copies that state into the convshape model *by position* (the two state dicts in
order, matched by shape), runs both on the same seeded random input under ``torch.no_grad()``
and compares the outputs.

It needs torch and torchvision (the model classes only; torchvision's C++ ops are not used).
It is a manual tool, not a test dependency. Run it in an environment that has both, e.g.::

    python3 -m venv /work/tvenv
    /work/tvenv/bin/pip install "torch==2.13.0"                 # the CPU wheel, pinned
    /work/tvenv/bin/pip install --no-deps torchvision==0.28.0   # the release for torch 2.13
    /work/tvenv/bin/pip install numpy pillow pyyaml typer rich
    /work/tvenv/bin/pip install -e .

    /work/tvenv/bin/python bench/torchvision_check.py configs/resnet18.yaml resnet18
    /work/tvenv/bin/python bench/torchvision_check.py configs/vgg16.yaml vgg16 --input 2,3,224,224
    /work/tvenv/bin/python bench/torchvision_check.py --all    # one Markdown row per model

Options: ``--input N,C,H,W`` (default: the config's own input; another one re-predicts the
config at that input), ``--mapping position`` (the only mapping), ``--seed N`` (weights and
input), ``--exact`` (agree only when the outputs are bitwise equal), ``--no-calibrate`` (see
below), ``--all`` (the built-in table of configs and models; a missing config is skipped).
googlenet and inception_v3 are built with ``aux_logits=False, init_weights=False,
transform_input=False``.

Exit status: 0 when the outputs agree (``torch.allclose(ours, theirs, rtol=1e-4,
atol=1e-5 * max(1, max|theirs|))``, and finite), 1 when they differ or the state cannot be
mapped (in ``--all``: when any present config fails), 2 on a usage error. "max abs diff" is
``max|ours - theirs|``; "max rel diff" is that divided by ``max|theirs|`` (relative to the
output's scale: an element-wise ratio is meaningless for logits near zero). Both models run the
same kernels in the same order, so a faithful config gives exactly 0; a nonzero difference
inside the tolerance is worth a look (a LayerNorm eps of 1e-5 for 1e-6 shows as ~3e-5 on
vit_b_16 and passes unless ``--exact``).

Randomising: rank >= 2 weights normal with std sqrt(2 / fan_in); norm weights and layer scales
uniform(0.5, 1.5); biases normal(0, 0.1); other float tensors (class_token, pos_embedding)
normal(0, 0.5); num_batches_tracked kept. BatchNorm statistics are then *calibrated*: one
forward pass on a separate random input sets each running_mean to its input's mean plus
N(0, 0.1) std and each running_var to its input's variance times uniform(0.5, 1.5). Purely
random statistics (``--no-calibrate``: running_mean normal(0, 0.5), running_var uniform(0.5,
1.5)) leave many channels constant or dead behind a ReLU, where an error cannot show: on
resnet18 a 1% change to one random weight was caught 17 times in 40 without calibration and
39 in 40 with it (densenet121: 11 and 38).

Mapping by position: both state dicts are walked in order and ours take torchvision's entries
in turn. Where the next ones do not fit, up to 8 unused torchvision modules ahead are searched
(torchvision registers a block's own tensors before its children: ConvNeXt's layer_scale,
ViT's class_token; RegNet registers a block's shortcut before its body), always for the largest
subtree of our modules that has the same shapes there; failing that, for a module whose shapes
differ only in size-1 dimensions (ConvNeXt's layer_scale [C, 1, 1] for a [C] scale). Every
reordering and reshape is printed; anything unmatched fails, naming both sides.

A CUDA build of torchvision (PyPI's) next to a CPU build of torch fails to import with
"operator torchvision::nms does not exist"; the script then retries with an empty module in
place of ``torchvision._meta_registrations``, which is enough for the model classes.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import convshape

REPO = Path(__file__).resolve().parent.parent

RTOL = 1e-4
ATOL_SCALE = 1e-5
LOOKAHEAD = 8  # how many unused torchvision modules (or tensors) the mapping may look past

# Inception-style models: no auxiliary heads, no input re-normalisation, no init (we randomise).
INCEPTION_KWARGS: dict[str, Any] = {
    "aux_logits": False,
    "init_weights": False,
    "transform_input": False,
}
TORCHVISION_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": INCEPTION_KWARGS,
    "inception_v3": INCEPTION_KWARGS,
}

# --all: (config, torchvision model name, input shape)
ALL_MODELS: list[tuple[str, str, tuple[int, ...]]] = [
    ("configs/resnet18.yaml", "resnet18", (1, 3, 224, 224)),
    ("configs/resnet50.yaml", "resnet50", (1, 3, 224, 224)),
    ("configs/vgg16.yaml", "vgg16", (1, 3, 224, 224)),
    ("configs/alexnet.yaml", "alexnet", (1, 3, 224, 224)),
    ("configs/densenet121.yaml", "densenet121", (1, 3, 224, 224)),
    ("configs/mobilenet_v2.yaml", "mobilenet_v2", (1, 3, 224, 224)),
    ("configs/googlenet.yaml", "googlenet", (1, 3, 224, 224)),
    ("configs/inception_v3.yaml", "inception_v3", (1, 3, 299, 299)),
    ("configs/shufflenet_v2_x1_0.yaml", "shufflenet_v2_x1_0", (1, 3, 224, 224)),
    ("configs/mobilenet_v3_large.yaml", "mobilenet_v3_large", (1, 3, 224, 224)),
    ("configs/efficientnet_b0.yaml", "efficientnet_b0", (1, 3, 224, 224)),
    ("configs/regnet_y_400mf.yaml", "regnet_y_400mf", (1, 3, 224, 224)),
    ("configs/convnext_tiny.yaml", "convnext_tiny", (1, 3, 224, 224)),
    ("configs/vit_b_16.yaml", "vit_b_16", (1, 3, 224, 224)),
]


class CheckError(Exception):
    """The check could not be carried out (unmappable state, bad config, ...)."""


# --------------------------------------------------------------------------- torchvision


def import_torchvision() -> types.ModuleType:
    """``import torchvision``; with a CPU torch and a CUDA torchvision, retry without its
    meta registrations (they need the C++ ops; the model classes do not)."""
    try:
        import torchvision
    except RuntimeError as exc:
        if "does not exist" not in str(exc):
            raise
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        sys.modules["torchvision._meta_registrations"] = types.ModuleType(
            "torchvision._meta_registrations"
        )
        import torchvision
    module: types.ModuleType = torchvision
    return module


def torchvision_model(name: str) -> tuple[nn.Module, dict[str, Any]]:
    """The untrained torchvision model ``name`` and the extra keyword arguments it got."""
    torchvision = import_torchvision()
    kwargs = TORCHVISION_KWARGS.get(name, {})
    model: nn.Module = torchvision.models.get_model(name, weights=None, **kwargs)
    return model.eval(), kwargs


# --------------------------------------------------------------------------- randomising


def _fan_in(shape: torch.Size) -> int:
    return max(1, math.prod(shape[1:]))


def random_like(key: str, tensor: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random tensor for state-dict entry ``key``, scaled so activations stay finite.

    Weights of rank >= 2 (conv, linear, attention in_proj): normal, std sqrt(2 / fan_in)
    (He; keeps ReLU stacks such as VGG from fading). Rank-1 weights and anything named like a
    scale (norm weights, ConvNeXt's layer_scale): uniform(0.5, 1.5). Biases and running means:
    normal, std 0.1 / 0.5. Running variances: uniform(0.5, 1.5). Other float tensors (ViT's
    class_token and pos_embedding): normal, std 0.5. Integer tensors (num_batches_tracked) keep
    their values.
    """
    if not tensor.is_floating_point():
        return tensor.clone()
    leaf = key.rpartition(".")[2]
    shape, dtype = tensor.shape, tensor.dtype

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(shape, generator=gen, dtype=dtype) * (hi - lo) + lo

    def normal(std: float) -> torch.Tensor:
        return torch.randn(shape, generator=gen, dtype=dtype) * std

    if leaf == "running_var":
        return uniform(0.5, 1.5)
    if leaf == "running_mean":
        return normal(0.5)
    if leaf.endswith("bias"):
        return normal(0.1)
    if leaf.endswith("weight") and tensor.dim() >= 2:
        return normal(math.sqrt(2.0 / _fan_in(shape)))
    if leaf.endswith("weight") or "scale" in leaf:
        return uniform(0.5, 1.5)
    return normal(0.5)


def randomise(model: nn.Module, seed: int) -> None:
    """Replace every state-dict entry of ``model`` by a random one (integers kept)."""
    gen = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    model.load_state_dict({k: random_like(k, v, gen) for k, v in state.items()}, strict=True)


NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def calibrate(model: nn.Module, input_shape: tuple[int, ...], seed: int) -> int:
    """Centre the random BatchNorm statistics on the activations they will see.

    Purely random running statistics leave many channels constant: a BatchNorm whose input has
    std 0.01 but whose running_mean is 0.4 outputs one value everywhere, and a ReLU after it
    kills the channel, so an error upstream of it cannot show. One forward pass in eval mode, on
    an input of its own, sets each BatchNorm's statistics, just before it runs, to those of its
    actual input with random error: running_mean = mean + N(0, 0.1) * std, running_var =
    var * uniform(0.5, 1.5). Returns how many BatchNorms were calibrated.
    """
    gen = torch.Generator().manual_seed(seed + 2)
    handles = []

    def pre_hook(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        assert isinstance(module, NORMS)
        assert module.running_mean is not None and module.running_var is not None
        x = args[0]
        dims = [d for d in range(x.dim()) if d != 1]
        mean = x.mean(dim=dims)
        var = x.var(dim=dims, unbiased=False) if x.numel() > x.shape[1] else torch.ones_like(mean)
        var = var.clamp_min(1e-4 * float(var.max()) + 1e-12)
        std = var.sqrt()
        noise = torch.randn(mean.shape, generator=gen, dtype=mean.dtype)
        factor = torch.rand(var.shape, generator=gen, dtype=var.dtype) + 0.5
        module.running_mean.copy_(mean + 0.1 * noise * std)
        module.running_var.copy_(var * factor)

    for module in model.modules():
        if isinstance(module, NORMS) and module.track_running_stats:
            handles.append(module.register_forward_pre_hook(pre_hook))
    if handles:
        x = torch.randn(input_shape, generator=gen)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(x)
        model.train(was_training)
    for handle in handles:
        handle.remove()
    return len(handles)


# --------------------------------------------------------------------------- mapping


@dataclass
class Mapping:
    """Which torchvision entry each of ours was copied from."""

    level: str = "module"  # what was matched as a whole: "module" or "tensor"
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (ours, theirs)
    reordered: list[str] = field(default_factory=list)  # human-readable notes
    reshaped: list[str] = field(default_factory=list)


Items = list[tuple[str, torch.Tensor]]


def _fmt(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _squeezed(shape: torch.Size) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype


def _reshapable(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.dim() != b.dim() and _squeezed(a.shape) == _squeezed(b.shape)


def _module_units(items: Items) -> list[tuple[int, int]]:
    """Runs ``[start, end)`` of consecutive entries of one module (the same key prefix)."""
    units: list[tuple[int, int]] = []
    prefix: str | None = None
    for i, (key, _) in enumerate(items):
        here = key.rpartition(".")[0]
        if units and here == prefix:
            units[-1] = (units[-1][0], i + 1)
        else:
            units.append((i, i + 1))
            prefix = here
    return units


@dataclass(frozen=True)
class Span:
    """Entries ``[start, end)`` of one state-dict list that move together."""

    start: int
    end: int
    name: str


def _spans(items: Items, level: str) -> list[Span]:
    """What may be matched as a whole: at the "tensor" level each entry; at the "module" level
    each module's subtree (state dicts list a subtree's entries contiguously) and each module's
    own entries (ConvNeXt's layer_scale, ViT's class_token, before the module's children)."""
    if level == "tensor":
        return [Span(i, i + 1, key) for i, (key, _) in enumerate(items)]
    ranges: dict[str, tuple[int, int]] = {}
    for i, (key, _) in enumerate(items):
        parts = key.split(".")[:-1]
        for depth in range(len(parts) + 1):
            prefix = ".".join(parts[:depth])
            ranges[prefix] = (ranges[prefix][0] if prefix in ranges else i, i + 1)
    spans = {
        (start, end): Span(start, end, prefix or "<root>")
        for prefix, (start, end) in ranges.items()
    }
    for start, end in _module_units(items):
        spans.setdefault((start, end), Span(start, end, _names(items, start, end)))
    return list(spans.values())


def _names(items: Items, start: int, end: int) -> str:
    keys = [items[i][0] for i in range(start, end)]
    if len(keys) == 1:
        return keys[0]
    prefix = keys[0].rpartition(".")[0]
    leaves = ",".join(k.rpartition(".")[2] for k in keys)
    return f"{prefix}.{{{leaves}}}" if prefix else f"{{{leaves}}}"


def _signature(items: Items, span: Span) -> tuple[tuple[tuple[int, ...], torch.dtype], ...]:
    return tuple((tuple(t.shape), t.dtype) for _, t in items[span.start : span.end])


def _free(span: Span, window: set[int], used: list[bool]) -> bool:
    """Whether ``span`` starts within the look-ahead window and none of it is taken yet."""
    return span.start in window and not any(used[span.start : span.end])


def _walk(ours: Items, theirs: Items, level: str, lookahead: int) -> Mapping:
    """Pair spans of ours with spans of theirs, in order; see :func:`map_by_position`."""
    our_spans: dict[int, list[Span]] = {}
    for span in sorted(_spans(ours, level), key=lambda sp: sp.start - sp.end):  # largest first
        our_spans.setdefault(span.start, []).append(span)
    their_spans = sorted(_spans(theirs, level), key=lambda sp: (sp.start, sp.end))
    their_by_signature: dict[Any, list[Span]] = {}
    for span in their_spans:
        their_by_signature.setdefault(_signature(theirs, span), []).append(span)
    units = [(i, i + 1) for i in range(len(theirs))] if level == "tensor" else _module_units(theirs)
    unit_names = {start: _names(theirs, start, end) for start, end in units}
    used = [False] * len(theirs)
    taken: list[int] = []  # torchvision entries, in the order ours took them
    mapping = Mapping(level=level)
    previous_end = 0
    i = 0
    while i < len(ours):
        window = [start for start, _ in units if not used[start]][: lookahead + 1]
        if not window:
            raise CheckError(f"ours has more entries than torchvision, from #{i} {ours[i][0]}")
        in_window = set(window)

        pick: tuple[Span, Span] | None = None
        for ours_span in our_spans[i]:  # the largest span of ours that torchvision has as is
            match = next(
                (
                    t
                    for t in their_by_signature.get(_signature(ours, ours_span), [])
                    if _free(t, in_window, used)
                ),
                None,
            )
            if match is not None:
                pick = (ours_span, match)
                break
        if pick is None:  # the smallest span of ours, with size-1 dimensions ignored
            ours_span = our_spans[i][-1]
            n = ours_span.end - ours_span.start
            for t in their_spans:
                if (
                    t.end - t.start == n
                    and _free(t, in_window, used)
                    and all(
                        _same(x, y) or _reshapable(x, y)
                        for (_, x), (_, y) in zip(
                            ours[ours_span.start : ours_span.end],
                            theirs[t.start : t.end],
                            strict=True,
                        )
                    )
                ):
                    pick = (ours_span, t)
                    break
        if pick is None:
            rest = [j for j in range(len(theirs)) if not used[j]]
            head = window[0]
            raise CheckError(
                f"no torchvision tensor of shape {_fmt(ours[i][1].shape)} ({ours[i][1].dtype}) "
                f"for ours #{i} {ours[i][0]} within {lookahead} "
                f"{'entries' if level == 'tensor' else 'modules'} of torchvision #{head} "
                f"{theirs[head][0]} {_fmt(theirs[head][1].shape)}\n"
                + _side_by_side(ours, theirs, i, taken + rest)
            )
        ours_span, t = pick
        if t.start not in (window[0], previous_end):  # a jump, not a continuation
            mapping.reordered.append(
                f"{ours_span.name} ({t.end - t.start} tensors) <- {t.name} (torchvision "
                f"#{t.start}, skipping #{window[0]} {unit_names[window[0]]})"
            )
        previous_end = t.end
        for k in range(t.end - t.start):
            (our_key, x), (their_key, y) = ours[ours_span.start + k], theirs[t.start + k]
            if not _same(x, y):
                mapping.reshaped.append(f"{our_key} {_fmt(x.shape)} <- {their_key} {_fmt(y.shape)}")
            mapping.pairs.append((our_key, their_key))
            used[t.start + k] = True
            taken.append(t.start + k)
        i = ours_span.end
    if not all(used):
        j = used.index(False)
        raise CheckError(f"torchvision has entries left over, from #{j} {theirs[j][0]}")
    return mapping


def map_by_position(
    ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], lookahead: int = LOOKAHEAD
) -> Mapping:
    """Pair our state-dict entries with torchvision's by position and shape.

    Both lists are walked in state-dict order, and ours take torchvision's entries in turn.
    Where torchvision's next entries do not fit, the next ``lookahead`` unused torchvision
    modules are searched for the first one that does (a reordering: torchvision registers a
    block's own parameters, such as ConvNeXt's layer_scale or ViT's class_token, before its
    children's; RegNet registers a block's shortcut before its body), and failing that for one
    whose shapes differ only in size-1 dimensions (a reshape, e.g. a layer scale of [C, 1, 1]
    against [C]). Anything else raises :class:`CheckError` naming both sides.

    What moves is as large as possible: at each position, the largest subtree of our modules
    that torchvision has with exactly the same shapes in the window. So a block's body
    (conv 1x1 [48, 32, 1, 1] + BN + ...) is found as a whole behind a shortcut of the same
    first shapes, and a lone [C] tensor never takes the next layer's bias. When that walk
    fails, a plain tensor-by-tensor walk is tried, and its error is the one reported.
    """
    our_items = list(ours.items())
    their_items = list(theirs.items())
    if len(our_items) != len(their_items):
        at = _first_diff(our_items, their_items)
        raise CheckError(
            f"state dicts differ in length: ours {len(our_items)} entries, torchvision "
            f"{len(their_items)}; first difference (shape or name) at #{at}:\n"
            + _side_by_side(our_items, their_items, at)
        )
    try:
        return _walk(our_items, their_items, "module", lookahead)
    except CheckError:
        return _walk(our_items, their_items, "tensor", lookahead)


def _first_diff(a: Items, b: Items) -> int:
    """The first position whose shapes or last name parts (weight, bias, ...) differ."""
    for i, ((key_a, x), (key_b, y)) in enumerate(zip(a, b, strict=False)):
        if x.shape != y.shape or key_a.rpartition(".")[2] != key_b.rpartition(".")[2]:
            return i
    return min(len(a), len(b))


def _side_by_side(
    ours: Items,
    theirs: Items,
    at: int,
    aligned: list[int] | None = None,
    context: int = 4,
) -> str:
    """Entries of both lists around ours #``at``; ``aligned[i]`` is the torchvision entry shown
    beside ours #i (the one taken before ``at``, the unused ones in order from there)."""
    order = aligned if aligned is not None else list(range(len(theirs)))
    lines = [f"  {'ours':<60} | torchvision"]
    for i in range(max(0, at - context), at + context + 1):
        left = f"#{i} {ours[i][0]} {_fmt(ours[i][1].shape)}" if i < len(ours) else "-"
        right = "-"
        if i < len(order):
            j = order[i]
            right = f"#{j} {theirs[j][0]} {_fmt(theirs[j][1].shape)}"
        if i >= len(ours) and right == "-":
            break
        lines.append(f"{'>' if i == at else ' '} {left:<60} | {right}")
    return "\n".join(lines)


def copy_state(ours: nn.Module, theirs: nn.Module) -> Mapping:
    """Copy torchvision's state into ours, by position (see :func:`map_by_position`)."""
    our_state = ours.state_dict()
    their_state = theirs.state_dict()
    mapping = map_by_position(our_state, their_state)
    new_state = {
        our_key: their_state[their_key].reshape(our_state[our_key].shape).clone()
        for our_key, their_key in mapping.pairs
    }
    ours.load_state_dict(new_state, strict=True)
    return mapping


# --------------------------------------------------------------------------- the check


@dataclass
class Result:
    config: str
    torchvision_name: str
    input_shape: tuple[int, ...]
    config_input: tuple[int, ...]
    our_params: int
    their_params: int
    predicted_params: int
    predicted_macs: int
    max_abs: float
    max_rel: float
    output_scale: float
    output_shape: tuple[int, ...]
    identical: bool  # bitwise equal outputs
    agree: bool
    mapping: Mapping
    torchvision_kwargs: dict[str, Any]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_convshape(
    config: Path, input_shape: tuple[int, ...] | None
) -> tuple[nn.Module, convshape.Prediction, tuple[int, ...]]:
    """The convshape model in eval mode, its prediction (at ``input_shape`` when given), and
    the config's own input shape."""
    spec = convshape.load(str(config))
    config_input = tuple(spec.input_shape)
    if input_shape is not None and tuple(input_shape) != tuple(spec.input_shape):
        spec = dataclasses.replace(spec, input_shape=tuple(input_shape), expects=False)
    prediction = convshape.predict(spec)
    if prediction.error is not None:
        raise CheckError(f"convshape cannot predict {config}: {prediction.error}")
    return convshape.build(prediction).eval(), prediction, config_input


def check(
    config: Path,
    name: str,
    input_shape: tuple[int, ...] | None,
    seed: int = 0,
    calibrated: bool = True,
    exact: bool = False,
) -> Result:
    """Build both models, randomise torchvision's, copy it into ours, compare the outputs.

    ``exact``: agree only when the outputs are bitwise equal (the two models run the same
    kernels in the same order, so a faithful config gives a difference of exactly 0; a wrong
    LayerNorm eps, 1e-5 for 1e-6, stays inside the default tolerance).
    """
    ours, prediction, config_input = build_convshape(config, input_shape)
    assert prediction.totals is not None
    shape = tuple(prediction.spec.input_shape)
    theirs, tv_kwargs = torchvision_model(name)
    randomise(theirs, seed)
    if calibrated:
        calibrate(theirs, shape, seed)
    mapping = copy_state(ours, theirs)

    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(shape, generator=gen)
    with torch.no_grad():
        a = ours(x.clone())
        b = theirs(x.clone())
    if a.shape != b.shape:
        raise CheckError(f"output shapes differ: ours {_fmt(a.shape)}, torchvision {_fmt(b.shape)}")
    scale = b.abs().max().item()
    max_abs = (a - b).abs().max().item()
    max_rel = max_abs / scale if scale > 0 else float("inf") if max_abs > 0 else 0.0
    identical = torch.equal(a, b)
    agree = bool(
        torch.isfinite(b).all()
        and torch.allclose(a, b, rtol=RTOL, atol=ATOL_SCALE * max(1.0, scale))
        and (identical or not exact)
    )
    return Result(
        config=str(config),
        torchvision_name=name,
        input_shape=shape,
        config_input=config_input,
        our_params=count_params(ours),
        their_params=count_params(theirs),
        predicted_params=prediction.totals.params,
        predicted_macs=prediction.totals.macs,
        max_abs=max_abs,
        max_rel=max_rel,
        output_scale=scale,
        output_shape=tuple(b.shape),
        identical=identical,
        agree=agree,
        mapping=mapping,
        torchvision_kwargs=tv_kwargs,
    )


# --------------------------------------------------------------------------- output


def print_result(r: Result) -> None:
    print(f"config        {r.config}")
    kwargs = ", ".join(f"{k}={v}" for k, v in r.torchvision_kwargs.items())
    print(f"torchvision   {r.torchvision_name}(weights=None{', ' + kwargs if kwargs else ''})")
    own = "" if r.input_shape == r.config_input else f" (the config's own: {_fmt(r.config_input)})"
    print(f"input         {_fmt(r.input_shape)}{own}")
    print(f"params        convshape model {r.our_params:,}, torchvision {r.their_params:,}")
    print(f"predicted     params {r.predicted_params:,}, MACs {r.predicted_macs:,}")
    print(
        f"mapping       {len(r.mapping.pairs)} state tensors by position (walked "
        f"{r.mapping.level} by {r.mapping.level}), {len(r.mapping.reordered)} reordered, "
        f"{len(r.mapping.reshaped)} reshaped"
    )
    for note in r.mapping.reordered:
        print(f"  reordered   {note}")
    for note in r.mapping.reshaped:
        print(f"  reshaped    {note}")
    print(
        f"output        shape {_fmt(r.output_shape)}, max |torchvision output| {r.output_scale:.3g}"
    )
    print(f"max abs diff  {r.max_abs:.3e}")
    print(f"max rel diff  {r.max_rel:.3e}  (max abs diff / max |torchvision output|)")
    print(f"identical     {'yes (bitwise)' if r.identical else 'no'}")
    print(f"verdict       {'AGREE' if r.agree else 'DIFFER'}")


TABLE_HEADER = (
    "| config | torchvision | params (ours / theirs) | max abs diff | max rel diff | verdict |\n"
    "|---|---|---|---|---|---|"
)


def table_row(config: str, name: str, params: str, abs_: str, rel: str, verdict: str) -> str:
    return f"| {config} | {name} | {params} | {abs_} | {rel} | {verdict} |"


def run_all(seed: int, calibrated: bool = True, exact: bool = False) -> int:
    print(TABLE_HEADER, flush=True)
    failed = 0
    notes: list[str] = []
    for config, name, shape in ALL_MODELS:
        path = REPO / config
        if not path.exists():
            print(table_row(config, name, "-", "-", "-", "skipped: config missing"), flush=True)
            continue
        try:
            r = check(path, name, shape, seed, calibrated, exact)
        except Exception as exc:  # one broken model must not hide the others
            failed += 1
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(table_row(config, name, "-", "-", "-", f"ERROR: {first}"), flush=True)
            notes.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        failed += not r.agree
        params = f"{r.our_params:,} / {r.their_params:,}"
        if r.predicted_params != r.our_params:
            params += f" (predicted {r.predicted_params:,})"
        verdict = ("agree" if r.agree else "DIFFER") + (", bitwise" if r.identical else "")
        if r.mapping.reordered or r.mapping.reshaped:
            verdict += (
                f" ({len(r.mapping.reordered)} reordered, {len(r.mapping.reshaped)} reshaped)"
            )
        if r.torchvision_kwargs:
            verdict += " [" + ", ".join(f"{k}={v}" for k, v in r.torchvision_kwargs.items()) + "]"
        print(
            table_row(config, name, params, f"{r.max_abs:.2e}", f"{r.max_rel:.2e}", verdict),
            flush=True,
        )
        for note in r.mapping.reordered:
            notes.append(f"{name}: reordered {note}")
        for note in r.mapping.reshaped:
            notes.append(f"{name}: reshaped {note}")
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    return 1 if failed else 0


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a shape: {text!r} (e.g. 1,3,224,224)") from None
    if not shape or any(d < 1 for d in shape):
        raise argparse.ArgumentTypeError(f"not a shape: {text!r} (e.g. 1,3,224,224)")
    return shape


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check that a convshape config computes the same function as a "
        "torchvision model (random weights copied by position).",
    )
    parser.add_argument("config", nargs="?", type=Path, help="the convshape YAML spec")
    parser.add_argument("model", nargs="?", help="torchvision model name, e.g. resnet18")
    parser.add_argument(
        "--input",
        type=parse_shape,
        default=None,
        help="input shape, batch first (default: the config's own input)",
    )
    parser.add_argument(
        "--mapping",
        choices=["position"],
        default="position",
        help="how state is copied: position (state-dict order, matched by shape)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the input")
    parser.add_argument(
        "--no-calibrate",
        dest="calibrate",
        action="store_false",
        help="keep BatchNorm statistics purely random (default: centred on the activations)",
    )
    parser.add_argument(
        "--exact",
        action="store_true",
        help="agree only when the outputs are bitwise equal (default: allclose)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="check every built-in (config, model) pair; print a Markdown table",
    )
    args = parser.parse_args(argv)
    if args.all:
        if args.config or args.model or args.input:
            parser.error("--all takes no config, model or --input")
        return run_all(args.seed, args.calibrate, args.exact)
    if args.config is None or args.model is None:
        parser.error("give CONFIG and MODEL, or --all")
    try:
        result = check(args.config, args.model, args.input, args.seed, args.calibrate, args.exact)
    except (CheckError, convshape.ConvshapeError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_result(result)
    return 0 if result.agree else 1


if __name__ == "__main__":
    sys.exit(main())
