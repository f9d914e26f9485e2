"""What the testbed's adapter mixtures (comol.py, samora.py) share: wrapping the base's adapted linear layers, walking
them back, and writing the result as an adapter-mixture GGUF (docs/ADAPTER-MIXTURE.md) with gguf-py."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Tuple, Union

import numpy as np
from torch import nn

from config import ModelConfig
from ttlora import TARGETS

GGUF_NAMES = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
              "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}


def attach(model, make: Callable[[nn.Linear], nn.Module]) -> List[nn.Module]:
    """Freezes the model and replaces each adapted linear layer (TARGETS, every layer) by make(layer)."""
    for p in model.parameters():
        p.requires_grad_(False)
    made = []
    for layer in model.model.layers:
        for owner in (layer.self_attn, layer.mlp):
            for name in TARGETS:
                if hasattr(owner, name):
                    m = make(getattr(owner, name))
                    setattr(owner, name, m)
                    made.append(m)
    return made


def wrapped(model, cls: type) -> Iterator[Tuple[int, str, nn.Module]]:
    """(layer index, projection name, module) of each layer attach() wrapped in a `cls`."""
    for i, layer in enumerate(model.model.layers):
        for owner in (layer.self_attn, layer.mlp):
            for name in TARGETS:
                mod = getattr(owner, name, None)
                if isinstance(mod, cls):
                    yield i, name, mod


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute of Q and K rows (ttlora.unpermute's inverse)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def output_rows(w: np.ndarray, name: str, m: ModelConfig) -> np.ndarray:
    """A B matrix (rows = the weight's outputs) as the GGUF holds it: Q and K rows permuted as the base's are."""
    if name == "q_proj":
        return permute(w, m.num_attention_heads)
    if name == "k_proj":
        return permute(w, m.num_key_value_heads)
    return w


def write_gguf(path: Path, llama_src: Path, adapter_type: str, name: str, kv: Dict[str, Union[float, str, list]],
               tensors: Iterable[Tuple[str, np.ndarray]]) -> None:
    """An adapter GGUF for the llama base: general.type adapter, adapter.type, then `kv` (floats as F32, lists as
    arrays) and general.name; every tensor written as F32."""
    sys.path.insert(0, str(llama_src / "gguf-py"))
    import gguf
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_type("adapter")
    w.add_string("adapter.type", adapter_type)
    for key, value in kv.items():
        if isinstance(value, float):
            w.add_float32(key, value)
        elif isinstance(value, list):
            w.add_array(key, value)
        else:
            w.add_string(key, value)
    w.add_string("general.name", name)
    for tensor_name, t in tensors:
        w.add_tensor(tensor_name, np.ascontiguousarray(t.astype(np.float32)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tensor_name(layer: int, projection: str, suffix: str) -> str:
    return f"blk.{layer}.{GGUF_NAMES[projection]}.weight.{suffix}"
