"""``convshape diff OLD NEW``: what changed between two specs, layer by layer (torch-free).

A side is a file path, ``-`` (the text on stdin) or a file at a git revision, ``REV:path``
(``HEAD:configs/resnet50.yaml``, ``main~1:x.yaml``, ``:x.yaml`` for the index; ``path`` is
relative to the repository's root, or to the current folder when it starts with ``./`` or
``../``, as git reads it). An argument that names an existing file is that file, even with a
``:`` in it. Each side is loaded, predicted and given its memory figures exactly as ``check``
does (:func:`check_text` is :func:`convshape.results.check_file` on text), then
:func:`diff` aligns the two module trees and :func:`diff_table`, :func:`diff_markdown` and
:func:`diff_json` show the result.

``include:`` files are read relative to the spec's own folder: the file's folder for a path,
the current folder for stdin, and for ``REV:path`` the same folder *at that revision* (the
included files are read from git too, so an old revision diffs with its old blocks).

**The alignment rule** (:func:`align`), applied to the two trees of modules:

1. *Name first*: a ``name:`` carried by exactly one module on each side pairs those two
   modules wherever they stand, so a named layer moved into another container, or one whose
   type changed, is one ``changed`` row, not a removal and an addition.
2. *Then container by container*: the children of two paired modules (the top-level layers
   first) are matched as sequences, by the longest common subsequence of (module key when it
   is a name, type, block); so when a layer is inserted or removed, the layers after it keep
   their partners even though their indices (and paths) shift (a run of over 250,000
   comparisons, a wholesale rewrite, is paired by position instead). Where both sides replaced a
   run of children, they pair in order when both keys are indices (``3``: the same place got
   another layer) or both have the same type (a renamed module: ``stem`` -> ``trunk``); the
   rest are ``removed`` and ``added``.
3. Everything under an added (removed) module is added (removed), except a module paired by
   name in step 1.

A pair is ``same`` when its name, type, block, output shape, params, MACs and saved bytes are
equal and its paths differ at most in list indices (a layer inserted before it shifts its index,
which alone is no change; a renamed or moved key is), else ``changed``. Rows come in the new
tree's order, a removed module where it stood.
"""

from convshape.diff.compare import Diff, Figure, Module, Row, align, diff
from convshape.diff.show import diff_json, diff_markdown, diff_table
from convshape.diff.sides import check_side, check_sides, check_text, read_side

__all__ = [
    "Diff", "Figure", "Module", "Row", "align", "check_side", "check_sides", "check_text",
    "diff", "diff_json", "diff_markdown", "diff_table", "read_side",
]  # fmt: skip
