"""``convshape export``: a predicted spec as a standalone PyTorch module (text; torch-free here).

The module imports only torch. It defines one class per block: the uses of a block are unified
(:mod:`convshape.export_unify`), so what differs between them (a channel count, a stride, a
shortcut present in some uses only) becomes a constructor parameter, named after the block's
own parameter where the values agree with it. Every module is constructed as the builder
constructs it, in the same order under the same keys, so the ``state_dict`` equals
``convshape.build``'s; convshape's own small modules (``Residual``, ``Concat``, ``Permute``, ...)
are copied from :mod:`convshape.modules`, source for source. Lines are laid out as ruff
formats them at its default width (88), so the file passes ``ruff format --check`` as written.
"""

from __future__ import annotations

import ast
import importlib.util
import keyword
import re
from pathlib import Path

from convshape.containers import CONTAINERS
from convshape.engine import Prediction
from convshape.export_code import Call, Code, Line, literal, render
from convshape.export_unify import (
    Group,
    Hole,
    LeafX,
    MergeX,
    SeqX,
    Unifier,
    UseX,
    X,
    own,
    shape_comment,
)
from convshape.layers.kinds import required

MERGE_BASES = {"Residual", "Concat", "Gate"}  # subclasses of convshape.modules.Merge


def export(prediction: Prediction) -> str:
    """The module's text, for a prediction that succeeded."""
    assert prediction.root is not None and prediction.totals is not None
    unifier = Unifier(prediction)
    root_name = _root_name(prediction, {g.name for g in unifier.groups})
    top = Group(root_name, [unifier.root()], [], None, 1)
    top.batched = not prediction.spec.unbatched
    own(top.template, top)
    code = Code()
    classes = [_class(group, code) for group in [*unifier.groups, top]]
    parts = [_imports(code), *_helpers(code), *classes, _main(prediction, root_name)]
    return _docstring(prediction, root_name) + "\n\n" + "\n\n\n".join(parts) + "\n"


# ------------------------------------------------------------------------------ the file parts


def _docstring(prediction: Prediction, root: str) -> str:
    spec, totals = prediction.spec, prediction.totals
    assert totals is not None and prediction.root is not None
    shape_in, shape_out = prediction.root.input_shape, prediction.root.output_shape
    title = f"{spec.name or Path(spec.file).stem}: exported by convshape"
    lines = [
        f'"""{title} from {Path(spec.file).name}.',
        "",
        f"{root}: input {tuple(shape_in)} -> output {tuple(shape_out)}; "
        f"{totals.params:,} parameters ({totals.trainable_params:,} trainable), "
        f"{totals.macs:,} multiply-accumulates.",
        "This file imports only torch. Its state_dict keys and shapes equal convshape.build's,",
        "so weights load both ways (load_state_dict(..., strict=True)).",
        '"""',
    ]
    return "\n".join(_wrap_prose(line) for line in lines)


def _wrap_prose(line: str, width: int = 88) -> str:
    words, out, current = line.split(" "), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return "\n".join([*out, current])


def _imports(code: Code) -> str:
    lines = []
    if code.ordered_dict:
        lines += ["from collections import OrderedDict", ""]
    lines += ["import torch", "from torch import nn"]
    return "\n".join(lines)


def _main(prediction: Prediction, root: str) -> str:
    assert prediction.root is not None
    shape = ", ".join(map(str, prediction.root.input_shape))
    out = tuple(prediction.root.output_shape)
    return "\n".join([
        'if __name__ == "__main__":',
        f"    model = {root}().eval()",
        f"    print(model(torch.randn({shape})).shape)  # {out}",
    ])  # fmt: skip


def _root_name(prediction: Prediction, taken: set[str]) -> str:
    text = prediction.spec.name or Path(prediction.spec.file).stem
    words = re.findall(r"[A-Za-z0-9]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Model"
    if not name[0].isalpha():
        name = f"Model{name}"
    while name in taken or name in MERGE_BASES or keyword.iskeyword(name):
        name += "Model"
    return name


# --------------------------------------------------------------------------- convshape.modules


def _helpers(code: Code) -> list[str]:
    """The source of the convshape.modules classes the code uses (and their bases)."""
    if not code.helpers:
        return []
    spec = importlib.util.find_spec("convshape.modules")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text(encoding="utf-8")
    tree = ast.parse(source)
    wanted = set(code.helpers)
    if wanted & MERGE_BASES:
        wanted.add("Merge")
    out = []
    for node in tree.body:  # in the file's order: a base before its subclasses
        if isinstance(node, ast.ClassDef) and node.name in wanted:
            text = ast.get_source_segment(source, node)
            assert text is not None
            out.append(text)
    return out


# -------------------------------------------------------------------------------- the classes


def _class(group: Group, code: Code) -> str:
    template = group.template
    base = _base(template, code)
    doc = group.doc()
    holes = [h for h in group.holes if h.derived is None]
    params = ", ".join(["self", *(f"{h.name}: {h.annotation()}" for h in holes)])
    head = [f"class {group.name}({base}):", f'    """{doc}"""', ""]
    signature = f"    def __init__({params}) -> None:"
    if len(signature) > 88:
        inner = [f"        {h.name}: {h.annotation()}," for h in holes]
        signature = "\n".join(["    def __init__(", "        self,", *inner, "    ) -> None:"])
    body = _init_call(template, code)
    lines = [*head, signature, *render(body, 8)]
    if isinstance(template, SeqX) and template.children:
        lines += ["", *_forward(group)]
    return "\n".join(lines)


def _base(template: X, code: Code) -> str:
    if isinstance(template, SeqX):
        return "nn.Sequential"
    assert isinstance(template, MergeX)
    name = CONTAINERS[template.kind].torch_class
    code.helpers.add(name)
    return name


def _init_call(template: X, code: Code) -> Line:
    call = _call(template, code)
    call.func = "super().__init__"
    call.suffix = ""
    return Line(call)


def _forward(group: Group) -> list[str]:
    template = group.template
    assert isinstance(template, SeqX)
    lines = ["    def forward(self, x: torch.Tensor) -> torch.Tensor:"]
    lines.append(f"        # x: {shape_comment(template.inputs, group)}")
    for i, (_, child) in enumerate(template.children):
        comment = f"# {_type_text(child)}: {shape_comment(_shapes(child), group)}"
        statement = f"        x = self[{i}](x)"
        if len(statement) + 2 + len(comment) > 88:
            lines += [f"        {comment}", statement]
        else:
            lines.append(f"{statement}  {comment}")
    lines.append("        return x")
    return lines


def _shapes(x: X | Hole) -> list[tuple[int, ...]]:
    """A module parameter's output per use: its modules' (or the input, for None)."""
    if isinstance(x, X):
        return x.shapes
    return [v.shapes[0] if isinstance(v, X) else () for v in x.values]


def _type_text(x: X | Hole) -> str:
    if isinstance(x, Hole):
        return x.name
    if isinstance(x, LeafX):
        return x.cls.__name__
    if isinstance(x, UseX):
        return x.name
    if isinstance(x, MergeX):
        return x.kind
    return "Sequential"


# ------------------------------------------------------------------------ expressions as code


def _call(x: X, code: Code) -> Call:
    if isinstance(x, LeafX):
        return _leaf(x, code)
    if isinstance(x, UseX):
        args: list[tuple[str | None, Call | str]] = [
            (name, _value(value, code)) for name, value in x.args
        ]
        return Call(x.name, args)
    if isinstance(x, MergeX):
        return _merge(x, code)
    assert isinstance(x, SeqX)
    return _sequential(x, code)


def _value(value: object, code: Code) -> Call | str:
    if isinstance(value, Hole):
        return value.code
    if isinstance(value, X):
        return _with_comment(value, code)
    return literal(value)


def _with_comment(x: X, code: Code) -> Call:
    call = _call(x, code)
    if not isinstance(x, SeqX):
        call.comment = shape_comment(x.shapes, x.group)
    return call


def _leaf(x: LeafX, code: Code) -> Call:
    where = x.cls.torch_module
    if where is None:
        func = f"nn.{x.cls.__name__}"
    else:
        func = where.rpartition(".")[2]
        code.helpers.add(func)
    positional = required(x.cls)[:2]  # Conv2d(3, 64, kernel_size=7, ...)
    args: list[tuple[str | None, Call | str]] = []
    for name, value in x.values:
        if name in positional:
            args.append((None, _value(value, code)))
        elif isinstance(value, Hole) or value != x.defaults[name]:
            args.append((name, _value(value, code)))
    return Call(func, args, suffix=".requires_grad_(False)" if x.frozen else "")


def _merge(x: MergeX, code: Code) -> Call:
    name = CONTAINERS[x.kind].torch_class
    code.helpers.add(name)
    args: list[tuple[str | None, Call | str]] = []
    for keyword_, key in x.call:
        branch = x.branches[key]
        if branch is None and keyword_ is not None:
            continue  # a keyword branch left out is None (the identity)
        args.append((keyword_, "None" if branch is None else _value(branch, code)))
    args += [(k, _value(v, code)) for k, v in x.options]
    if x.clone != frozenset():
        args.append(("clone", _value(x.clone, code)))
    return Call(name, args)


def _sequential(x: SeqX, code: Code) -> Call:
    keys = [key for key, _ in x.children]
    if keys == [str(i) for i in range(len(keys))]:
        return Call("nn.Sequential", [(None, _value(child, code)) for _, child in x.children])
    code.ordered_dict = True
    pairs: list[tuple[str | None, Call | str]] = [
        (None, Call("", [(None, literal(k)), (None, _value(c, code))])) for k, c in x.children
    ]
    return Call("nn.Sequential", [(None, Call("OrderedDict", [(None, Call("", pairs, "[]"))]))])
