"""Memory, predicted to the byte (torch-free): what training and inference keep alive.

The figures (README: Memory):

* parameters, buffers, gradients (trainable parameters) and optimizer state, by formula;
* **saved activations**: the bytes autograd keeps for backward after one training-mode forward,
  counted by *storage*: each layer's rule (:meth:`convshape.layers.base.Layer.saves`) says
  whether it saves its input, its output and how many bytes of new storages (statistics,
  indices, noise, copies); a value saved by two layers counts once. Views, in-place layers and
  identities pass their input's storage on, so the walk tracks storages, with strides where a
  reshape may need a copy;
* **inference peak**: the most activation bytes alive at once in one eval forward under
  ``no_grad``, the input included (the caller holds it): a layer's input stays alive while it
  runs, a container keeps its input and every finished branch output until it merges them.

:mod:`convshape.measure` measures the same figures in torch; the verifier diffs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import count
from math import prod

from convshape.containers import CONTAINERS
from convshape.engine import Node, Prediction
from convshape.layers.base import Device, Strides, contiguous
from convshape.spec.decls import MergeDecl

ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2}
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
STEP_BYTES = 4  # Adam's per-parameter ``step``: a float32 scalar tensor (capturable=False)


@dataclass(frozen=True)
class Value:
    """A tensor as the memory walk sees it: which storage, how big, how laid out."""

    sid: int
    nbytes: int  # the whole storage
    shape: tuple[int, ...]
    strides: Strides
    grad: bool  # requires grad (training walk)


@dataclass
class Memory:
    """The memory figures of one prediction, in bytes."""

    dtype: str
    optimizer: str
    device: str
    param_bytes: int
    buffer_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    saved_activation_bytes: int
    inference_peak_bytes: int
    saved: dict[str, int] = field(default_factory=dict)  # module path -> bytes it adds
    peak_in: dict[str, int] = field(default_factory=dict)  # leaf path -> most alive while it ran
    after: dict[str, int] = field(default_factory=dict)  # leaf path -> alive when it returned
    largest_param_bytes: int = 0
    untrainable: str | None = None  # why a training forward raises: no training figures

    @property
    def inference_bytes(self) -> int:
        """What one eval forward needs: parameters, buffers and the activation peak."""
        return self.param_bytes + self.buffer_bytes + self.inference_peak_bytes

    @property
    def training_bound(self) -> int:
        """An upper bound of a training step's tensor peak (not exact: README, Memory)."""
        step = 2 * self.largest_param_bytes if self.optimizer in ("adam", "adamw") else 0
        resident = self.param_bytes + self.buffer_bytes + self.grad_bytes + self.optimizer_bytes
        return resident + self.saved_activation_bytes + self.inference_peak_bytes + step

    def as_json(self) -> dict[str, int | str | None]:
        trains = self.untrainable is None
        return {
            "param_bytes": self.param_bytes,
            "buffer_bytes": self.buffer_bytes,
            "grad_bytes": self.grad_bytes,
            "optimizer_bytes": self.optimizer_bytes,
            "saved_activation_bytes": self.saved_activation_bytes if trains else None,
            "inference_peak_bytes": self.inference_peak_bytes,
            "training_peak_bound_bytes": self.training_bound if trains else None,
            "dtype": self.dtype,
            "optimizer": self.optimizer,
            "device": self.device,
        }


def footprint(
    prediction: Prediction,
    dtype: str = "float32",
    optimizer: str = "adam",
    device: str = "cpu",
    input_grad: bool = False,
) -> Memory:
    """Every memory figure of a successful prediction (``input_grad``: the model input
    requires grad, as a model inside a bigger one sees it)."""
    root = prediction.root
    assert root is not None
    itemsize = ITEMSIZE[dtype]
    at = Device(device, itemsize)
    leaves = root.leaves()
    params = sum(n.num_params for n in leaves)
    trainable = [n for n in leaves if n.trainable_params]
    trained = sum(n.trainable_params for n in trainable)
    tensors = sum(n.layer.param_tensors() for n in trainable if n.layer is not None)
    state = {"sgd": 0, "momentum": itemsize * trained}.get(
        optimizer, 2 * itemsize * trained + STEP_BYTES * tensors
    )
    untrainable = next(
        (
            f"{n.path} ({n.type_name}): {reason} (input {list(n.input_shape)})"
            for n in leaves
            if n.layer is not None and (reason := n.layer.training_error(n.input_shape))
        ),
        None,
    )
    train = _Training(at)
    if untrainable is None:
        train.node(root, train.new(root.input_shape, input_grad))
    infer = _Inference(at)
    infer.run(root)
    return Memory(
        dtype=dtype,
        optimizer=optimizer,
        device=device,
        param_bytes=itemsize * params,
        buffer_bytes=sum(n.layer.buffer_bytes(itemsize) for n in leaves if n.layer is not None),
        grad_bytes=itemsize * trained,
        optimizer_bytes=state,
        saved_activation_bytes=sum(train.saved.values()),
        inference_peak_bytes=infer.peak,
        saved=train.saved,
        peak_in=infer.peak_in,
        after=infer.after,
        largest_param_bytes=itemsize * max((n.layer.largest_param() for n in trainable
                                            if n.layer is not None), default=0),
        untrainable=untrainable,
    )  # fmt: skip


class _Walk:
    """Storage bookkeeping shared by the two walks."""

    def __init__(self, at: Device) -> None:
        self.at = at
        self.ids = count()

    def new(self, shape: tuple[int, ...], grad: bool, like: Value | None = None) -> Value:
        """A fresh storage for ``shape``; laid out like ``like`` when that is a dense tensor of
        the same shape (an elementwise op keeps its input's memory format)."""
        strides = contiguous(shape)
        if like is not None and like.shape == shape and _dense(like):
            strides = like.strides
        return self.storage(shape, strides, grad)

    def storage(
        self, shape: tuple[int, ...], strides: Strides, grad: bool, nbytes: int | None = None
    ) -> Value:
        size = self.at.itemsize * prod(shape) if nbytes is None else nbytes
        return Value(next(self.ids), size, shape, strides, grad)

    def input(self, root: Node) -> Value:
        return self.new(root.input_shape, grad=False)

    def leaf_output(self, node: Node, x: Value, grad: bool, training: bool) -> Value:
        assert node.layer is not None
        view = node.layer.view(x.shape, x.strides, node.output_shape, self.at, training)
        if view is not None:
            return Value(x.sid, x.nbytes, node.output_shape, view, grad)
        layout = node.layer.layout(x.shape, node.output_shape)
        size = node.layer.storage_bytes(x.shape, node.output_shape, self.at)
        if layout is not None:
            return self.storage(node.output_shape, layout, grad, size)
        out = self.new(node.output_shape, grad, like=x if node.layer.elementwise else None)
        return replace(out, nbytes=size)


def _dense(v: Value) -> bool:
    """Non-overlapping and dense: some permutation of the dims is contiguous."""
    dims = sorted((s, n) for s, n in zip(v.strides, v.shape, strict=True) if n != 1)
    expected = 1
    for stride, size in dims:
        if stride != expected:
            return False
        expected *= size
    return True


class _Training(_Walk):
    """One training-mode forward: which storages autograd saves, each to the module that saved
    it first."""

    def __init__(self, at: Device) -> None:
        super().__init__(at)
        self.saved: dict[str, int] = {}
        self.seen: set[int] = set()

    def save(self, path: str, *values: Value) -> None:
        for v in values:
            if v.sid not in self.seen:
                self.seen.add(v.sid)
                self.saved[path] = self.saved.get(path, 0) + v.nbytes

    def add(self, path: str, nbytes: int) -> None:
        if nbytes:
            self.saved[path] = self.saved.get(path, 0) + nbytes

    def node(self, node: Node, x: Value) -> Value:
        if node.layer is not None:
            return self.leaf(node, x)
        if node.type_name == "Sequential":
            for child in node.children:
                x = self.node(child, x)
            return x
        return self.merge(node, x)

    def leaf(self, node: Node, x: Value) -> Value:
        assert node.layer is not None
        learns = node.trainable_params > 0
        out = self.leaf_output(node, x, x.grad or learns, training=True)
        if not out.grad:
            return out  # no autograd node: nothing saved
        rule = node.layer.saves(x.shape, x.strides, node.output_shape, self.at, x.grad, learns)
        if rule.input:
            self.save(node.path, x)
        if rule.output:
            self.save(node.path, out)
        self.add(node.path, rule.extra)
        return out

    def merge(self, node: Node, x: Value) -> Value:
        decl = node.decl
        assert isinstance(decl, MergeDecl)
        rule = CONTAINERS[decl.kind]
        children = {c.key: c for c in node.children}
        outs = []
        for branch, shape in zip(decl.branches, rule.inputs(decl, x.shape), strict=True):
            piece = Value(x.sid, x.nbytes, shape, x.strides, x.grad)
            child = children.get(branch.key)
            if child is None:
                outs.append(piece)
                continue
            if _protected(child):
                piece = self.new(shape, x.grad)  # x.clone(): CloneBackward saves nothing
            outs.append(self.node(child, piece))
        saved = rule.merge_saves(decl, [v.grad for v in outs])
        grad = any(v.grad for v in outs)
        if grad:
            self.save(node.path, *(outs[i] for i in saved))
        if not rule.merge_copies(decl, len(outs)):
            return outs[0]
        return self.new(node.output_shape, grad)


def _protected(child: Node) -> bool:
    from convshape.engine import writes_input

    return writes_input(child)


class _Inference(_Walk):
    """One eval forward under ``no_grad``: the most bytes alive at once."""

    def __init__(self, at: Device) -> None:
        super().__init__(at)
        self.peak = 0
        self.peak_in: dict[str, int] = {}
        self.after: dict[str, int] = {}

    @staticmethod
    def alive(held: list[Value]) -> int:
        return sum({v.sid: v.nbytes for v in held}.values())

    def run(self, root: Node) -> None:
        x = self.input(root)
        self.node(root, x, [x])

    def note(self, total: int) -> None:
        self.peak = max(self.peak, total)

    def node(self, node: Node, x: Value, held: list[Value]) -> Value:
        """Run ``node`` on ``x`` while ``held`` (``x`` among them) stays alive."""
        if node.layer is not None:
            return self.leaf(node, x, held)
        if node.type_name == "Sequential":
            for child in node.children:
                x = self.node(child, x, [*held, x])
            return x
        return self.merge(node, x, held)

    def leaf(self, node: Node, x: Value, held: list[Value]) -> Value:
        assert node.layer is not None
        out = self.leaf_output(node, x, False, training=False)
        base = self.alive([*held, x])
        new = out.nbytes if out.sid != x.sid and out.sid not in {v.sid for v in held} else 0
        temps = node.layer.temporaries(x.shape, node.output_shape, x.strides, self.at)
        self.peak_in[node.path] = base + new + temps
        self.after[node.path] = base + new
        self.note(base + new + temps)
        return out

    def merge(self, node: Node, x: Value, held: list[Value]) -> Value:
        decl = node.decl
        assert isinstance(decl, MergeDecl)
        rule = CONTAINERS[decl.kind]
        children = {c.key: c for c in node.children}
        outs: list[Value] = []
        for branch, shape in zip(decl.branches, rule.inputs(decl, x.shape), strict=True):
            piece = Value(x.sid, x.nbytes, shape, x.strides, False)
            child = children.get(branch.key)
            if child is None:
                outs.append(piece)
                continue
            if _protected(child):
                piece = self.new(shape, False)
                self.note(self.alive([*held, *outs, piece]))
            outs.append(self.node(child, piece, [*held, *outs, piece]))
        if not rule.merge_copies(decl, len(outs)):
            return outs[0]
        out = self.new(node.output_shape, False)
        self.note(self.alive([*held, *outs, out]))
        return out
