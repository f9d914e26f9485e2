package io.molora.adapters.peft;

import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The base-model architectures whose PEFT adapters molora converts, with convert_hf_to_gguf.py's names for their
 * tensors (gguf-py's tensor_mapping.py, restricted to the tensors gguf-py's MODEL_TENSORS lists for the architecture,
 * as {@code TextModel.map_tensor_name} is) and the one architecture rule a LoRA meets:
 * <ul>
 * <li>{@code llama} ({@code LlamaModel}, conversion/llama.py): q_proj and k_proj are permuted for llama.cpp's RoPE
 *     ({@code LlamaModel.permute}, k with the KV head count), which for a LoRA permutes the rows of lora_B
 *     ({@code LoraTorchTensor.reshape/permute} in convert_lora_to_gguf.py);</li>
 * <li>{@code qwen2}, {@code qwen3} (conversion/qwen.py), {@code gemma3} (conversion/gemma.py; its norm shift touches
 *     norms only) and {@code phi3} (conversion/phi.py; fused {@code qkv_proj} → attn_qkv and {@code gate_up_proj} →
 *     ffn_up, no ffn_gate): the names alone.</li>
 * </ul>
 */
public enum PeftArchitecture {
    LLAMA("llama", true, true),
    QWEN2("qwen2", false, true),
    QWEN3("qwen3", false, true),
    GEMMA3("gemma3", false, true),
    PHI3("phi3", false, false);

    /** Hugging Face module (under {@code model.layers.N.}) → llama.cpp tensor (under {@code blk.N.}). */
    private static final Map<String, String> LAYER_MODULES = Map.of(
            "self_attn.q_proj", "attn_q",
            "self_attn.k_proj", "attn_k",
            "self_attn.v_proj", "attn_v",
            "self_attn.o_proj", "attn_output",
            "self_attn.qkv_proj", "attn_qkv",
            "mlp.gate_proj", "ffn_gate",
            "mlp.up_proj", "ffn_up",
            "mlp.down_proj", "ffn_down",
            "mlp.gate_up_proj", "ffn_up");

    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(0|[1-9]\\d{0,8})\\.([a-z_]+\\.[a-z_]+)\\.weight");

    private final String ggufName;
    private final boolean permutesQk;
    private final boolean hasFfnGate;

    PeftArchitecture(String ggufName, boolean permutesQk, boolean hasFfnGate) {
        this.ggufName = ggufName;
        this.permutesQk = permutesQk;
        this.hasFfnGate = hasFfnGate;
    }

    /** The base's {@code general.architecture}. */
    public String ggufName() {
        return ggufName;
    }

    /** Whether lora_B of q_proj and k_proj is permuted (LlamaModel.undo_permute). */
    public boolean permutesQk() {
        return permutesQk;
    }

    /** The architecture of a base's {@code general.architecture}, if molora converts adapters for it. */
    public static Optional<PeftArchitecture> of(String ggufArchitecture) {
        return Arrays.stream(values()).filter(a -> a.ggufName.equals(ggufArchitecture)).findFirst();
    }

    /** The architectures converted, for messages: "llama, qwen2, ...". */
    public static String names() {
        return Arrays.stream(values()).map(PeftArchitecture::ggufName).collect(Collectors.joining(", "));
    }

    /**
     * llama.cpp's name for a Hugging Face weight ({@code model.layers.3.self_attn.q_proj.weight} →
     * {@code blk.3.attn_q.weight}, {@code lm_head.weight} → {@code output.weight}), or empty when the architecture
     * has no such tensor (convert_hf_to_gguf.py: "Can not map tensor").
     */
    public Optional<String> map(String hfWeight) {
        if (hfWeight.equals("lm_head.weight")) {
            return Optional.of("output.weight");
        }
        Matcher m = LAYER.matcher(hfWeight);
        if (!m.matches()) {
            return Optional.empty();
        }
        String module = m.group(2);
        String tensor = LAYER_MODULES.get(module);
        if (tensor == null || module.equals("mlp.gate_proj") && !hasFfnGate) {
            return Optional.empty();
        }
        return Optional.of("blk." + m.group(1) + "." + tensor + ".weight");
    }
}
