# makes a tiny random llama model (n_embd 64, 2 layers, spm vocab, F32) + 3 random F32 LoRA adapters
# (ranks 4/8/2 to exercise padding, one with a token_embd LoRA, one with sparse targets and alpha 0), 2 F16 ones,
# for test-lora-routing.cpp. usage: make_tiny.py <out_dir> <llama.cpp>/models/ggml-vocab-llama-spm.gguf
import sys, numpy as np
import gguf
from gguf import GGUFReader, GGUFWriter, GGUFValueType

out = sys.argv[1]
vocab_src = sys.argv[2]
rng = np.random.default_rng(1234)

n_embd, n_layer, n_head, n_head_kv, n_ff = 64, 2, 4, 2, 128
head_dim = n_embd // n_head

r = GGUFReader(vocab_src)
n_vocab = None
w = GGUFWriter(f"{out}/tiny.gguf", "llama")
w.add_name("tiny")
w.add_context_length(256)
w.add_embedding_length(n_embd)
w.add_block_count(n_layer)
w.add_feed_forward_length(n_ff)
w.add_head_count(n_head)
w.add_head_count_kv(n_head_kv)
w.add_rope_dimension_count(head_dim)
w.add_layer_norm_rms_eps(1e-5)
w.add_file_type(0)
for f in r.fields.values():
    if not f.name.startswith("tokenizer."):
        continue
    t = f.types[0]
    if t == GGUFValueType.ARRAY:
        st = f.types[1]
        if st == GGUFValueType.STRING:
            val = [bytes(f.parts[i]) for i in f.data]
        else:
            val = [f.parts[i].tolist()[0] for i in f.data]
        if f.name == "tokenizer.ggml.tokens":
            n_vocab = len(val)
        w.add_key_value(f.name, val, t, sub_type=st)
    elif t == GGUFValueType.STRING:
        w.add_key_value(f.name, bytes(f.parts[f.data[0]]).decode(), t)
    else:
        w.add_key_value(f.name, f.parts[f.data[0]].tolist()[0], t)
print("n_vocab", n_vocab)

def rnd(*shape, s=0.1):
    return (rng.standard_normal(shape) * s).astype(np.float32)

# numpy shape is reversed ggml ne: ne=[n_in, n_out] -> np (n_out, n_in)
shapes = {}
def add(name, arr):
    shapes[name] = arr.shape
    w.add_tensor(name, arr)

add("token_embd.weight", rnd(n_vocab, n_embd, s=1.0))
add("output_norm.weight", np.ones(n_embd, np.float32))
add("output.weight", rnd(n_vocab, n_embd, s=0.2))
for il in range(n_layer):
    add(f"blk.{il}.attn_norm.weight", np.ones(n_embd, np.float32))
    add(f"blk.{il}.attn_q.weight", rnd(n_embd, n_embd))
    add(f"blk.{il}.attn_k.weight", rnd(head_dim*n_head_kv, n_embd))
    add(f"blk.{il}.attn_v.weight", rnd(head_dim*n_head_kv, n_embd))
    add(f"blk.{il}.attn_output.weight", rnd(n_embd, n_embd))
    add(f"blk.{il}.ffn_norm.weight", np.ones(n_embd, np.float32))
    add(f"blk.{il}.ffn_gate.weight", rnd(n_ff, n_embd))
    add(f"blk.{il}.ffn_up.weight", rnd(n_ff, n_embd))
    add(f"blk.{il}.ffn_down.weight", rnd(n_embd, n_ff))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

def adapter_writer(path, alpha):
    """A GGUFWriter with the keys llama_adapter_lora_init reads; the caller adds lora_a/lora_b pairs."""
    aw = GGUFWriter(path, "llama")
    aw.add_string("general.type", "adapter")
    aw.add_string("adapter.type", "lora")
    aw.add_float32("adapter.lora.alpha", alpha)
    return aw

def add_layer_pairs(aw, rank, targets, dtype=np.float32):
    for il in range(n_layer):
        for t in targets:
            n_out, n_in = shapes[f"blk.{il}.{t}.weight"]
            aw.add_tensor(f"blk.{il}.{t}.weight.lora_a", rnd(rank, n_in, s=0.3).astype(dtype))   # ne [n_in, r]
            aw.add_tensor(f"blk.{il}.{t}.weight.lora_b", rnd(n_out, rank, s=0.3).astype(dtype))  # ne [r, n_out]

# adapters: (name, rank, alpha, with token_embd, subset of targets)
targets_all = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
specs = [("a0", 4, 8.0, False, targets_all),
         ("a1", 8, 4.0, True,  targets_all),
         ("a2", 2, 0.0, False, ["attn_q", "ffn_down"]),   # alpha 0 -> no alpha/rank scaling, sparse targets
         ]
for name, rank, alpha, emb, tg in specs:
    aw = adapter_writer(f"{out}/{name}.gguf", alpha)
    add_layer_pairs(aw, rank, tg)
    if name != "a2":
        aw.add_tensor("output.weight.lora_a", rnd(rank, n_embd, s=0.3))
        aw.add_tensor("output.weight.lora_b", rnd(n_vocab, rank, s=0.3))
    if emb:
        # token_embd is flipped: a ne [r, n_vocab], b ne [r, n_embd]
        aw.add_tensor("token_embd.weight.lora_a", rnd(n_vocab, rank, s=0.3))
        aw.add_tensor("token_embd.weight.lora_b", rnd(n_embd, rank, s=0.3))
    aw.write_header_to_file(); aw.write_kv_data_to_file(); aw.write_tensors_to_file(); aw.close()

# F16 adapters, as convert_lora_to_gguf.py writes by default: the routing patch packs them into F16 copies.
# alpha/rank = 2 for both (a power of two, so folding the scale into the F16 copy of B rounds nothing).
# Each has an F32 twin with the same values unrounded (hN-f32): how far stock moves between the two is the floor
# the F16 comparisons are measured against.
for name, rank, alpha, tg in [("h0", 4, 8.0, targets_all), ("h1", 8, 16.0, ["attn_q", "ffn_up"])]:
    pairs = []
    for il in range(n_layer):
        for t in tg:
            n_out, n_in = shapes[f"blk.{il}.{t}.weight"]
            pairs.append((f"blk.{il}.{t}.weight.lora_a", rnd(rank, n_in, s=0.3)))    # ne [n_in, r]
            pairs.append((f"blk.{il}.{t}.weight.lora_b", rnd(n_out, rank, s=0.3)))   # ne [r, n_out]
    for suffix, dtype in (("", np.float16), ("-f32", np.float32)):
        aw = adapter_writer(f"{out}/{name}{suffix}.gguf", alpha)
        for tensor, values in pairs:
            aw.add_tensor(tensor, values.astype(dtype))
        aw.write_header_to_file(); aw.write_kv_data_to_file(); aw.write_tensors_to_file(); aw.close()
print("ok")

# a tiny MoE llama (2 experts) and an adapter on one expert tensor: llama_set_lora_routing must refuse it
n_expert = 2
w = GGUFWriter(f"{out}/tiny-moe.gguf", "llama")
w.add_name("tiny-moe")
w.add_context_length(256)
w.add_embedding_length(n_embd)
w.add_block_count(1)
w.add_feed_forward_length(n_ff)
w.add_head_count(n_head)
w.add_head_count_kv(n_head_kv)
w.add_rope_dimension_count(head_dim)
w.add_layer_norm_rms_eps(1e-5)
w.add_expert_count(n_expert)
w.add_expert_used_count(1)
w.add_file_type(0)
for f in r.fields.values():
    if not f.name.startswith("tokenizer."):
        continue
    t = f.types[0]
    if t == GGUFValueType.ARRAY:
        st = f.types[1]
        val = [bytes(f.parts[i]) for i in f.data] if st == GGUFValueType.STRING else [f.parts[i].tolist()[0] for i in f.data]
        w.add_key_value(f.name, val, t, sub_type=st)
    elif t == GGUFValueType.STRING:
        w.add_key_value(f.name, bytes(f.parts[f.data[0]]).decode(), t)
    else:
        w.add_key_value(f.name, f.parts[f.data[0]].tolist()[0], t)
w.add_tensor("token_embd.weight", rnd(n_vocab, n_embd, s=1.0))
w.add_tensor("output_norm.weight", np.ones(n_embd, np.float32))
w.add_tensor("output.weight", rnd(n_vocab, n_embd, s=0.2))
w.add_tensor("blk.0.attn_norm.weight", np.ones(n_embd, np.float32))
w.add_tensor("blk.0.attn_q.weight", rnd(n_embd, n_embd))
w.add_tensor("blk.0.attn_k.weight", rnd(head_dim*n_head_kv, n_embd))
w.add_tensor("blk.0.attn_v.weight", rnd(head_dim*n_head_kv, n_embd))
w.add_tensor("blk.0.attn_output.weight", rnd(n_embd, n_embd))
w.add_tensor("blk.0.ffn_norm.weight", np.ones(n_embd, np.float32))
w.add_tensor("blk.0.ffn_gate_inp.weight", rnd(n_expert, n_embd))
w.add_tensor("blk.0.ffn_gate_exps.weight", rnd(n_expert, n_ff, n_embd))
w.add_tensor("blk.0.ffn_up_exps.weight", rnd(n_expert, n_ff, n_embd))
w.add_tensor("blk.0.ffn_down_exps.weight", rnd(n_expert, n_embd, n_ff))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

aw = adapter_writer(f"{out}/a-moe.gguf", 4.0)
aw.add_tensor("blk.0.attn_q.weight.lora_a", rnd(4, n_embd))
aw.add_tensor("blk.0.attn_q.weight.lora_b", rnd(n_embd, 4))
aw.add_tensor("blk.0.ffn_up_exps.weight.lora_a", rnd(n_expert, 4, n_embd))    # ne [n_embd, r, n_expert]
aw.add_tensor("blk.0.ffn_up_exps.weight.lora_b", rnd(n_expert, n_ff, 4))      # ne [r, n_ff, n_expert]
aw.write_header_to_file(); aw.write_kv_data_to_file(); aw.write_tensors_to_file(); aw.close()
print("ok moe")
