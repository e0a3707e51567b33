"""Layer names become module keys in ``nn.Sequential``: refuse the ones torch cannot take.

``nn.Module.add_module`` raises ``KeyError: "attribute 'forward' already exists"`` for a name
that is already an attribute, which would surface only when the verifier builds the model, far
from the YAML line. The list is nn.Sequential's public attributes (torch 2.x);
``tests/test_hostile.py`` checks it against the installed torch.
"""

from __future__ import annotations

from convshape.errors import Location, SpecError

# fmt: off
RESERVED_NAMES = frozenset({
    "T_destination", "add_module", "append", "apply", "bfloat16", "buffers", "call_super_init",
    "children", "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extend",
    "extra_repr", "float", "forward", "get_buffer", "get_extra_state", "get_parameter",
    "get_submodule", "half", "insert", "ipu", "load_state_dict", "modules", "mtia",
    "named_buffers", "named_children", "named_modules", "named_parameters", "parameters", "pop",
    "register_backward_hook", "register_buffer", "register_forward_hook",
    "register_forward_pre_hook", "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook", "register_module",
    "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict", "to",
    "to_empty", "train", "training", "type", "xpu", "zero_grad",
})
# fmt: on


def check_module_name(name: str, location: Location, spec_path: str) -> None:
    """Refuse a layer name that ``nn.Sequential`` cannot hold as a child."""
    if not name.startswith("_") and name not in RESERVED_NAMES:
        return
    why = "starts with '_'" if name.startswith("_") else "is an attribute of nn.Sequential"
    err = SpecError(
        f"layer name '{name}' cannot be a module name in torch: it {why}",
        hint=f"rename it, e.g. '{name.strip('_') or 'layer'}_1'",
    )
    raise err.located(location=location, spec_path=spec_path or None)
