package io.molora.adapters.peft;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What molora reads of PEFT's {@code adapter_config.json} (peft's {@code LoraConfig}, saved by
 * {@code save_pretrained}), with each setting llama.cpp cannot run refused in one line when it is read.
 *
 * <p>convert_lora_to_gguf.py reads only {@code lora_alpha} (and the aLoRA fields) and ignores the rest, which for
 * several settings gives an adapter that loads and is wrong. Here:
 * <ul>
 * <li>{@code peft_type} must be {@code LORA} (LoHa, LoKr, IA3, ... have other tensors);</li>
 * <li>{@code r} a positive integer and {@code lora_alpha} a non-zero number: llama.cpp scales each pair by
 *     alpha / rank, its rank read from the pair's own lora_b (llama-graph.cpp, build_lora_mm), and alpha 0 means
 *     "no alpha" there (scale 1), not PEFT's scale 0;</li>
 * <li>{@code use_rslora}: PEFT scales by alpha / sqrt(r); molora writes alpha x sqrt(r) so that llama.cpp's
 *     alpha / r is the same (convert_lora_to_gguf.py writes lora_alpha as it is and the adapter runs sqrt(r) times
 *     too weak). Refused with a {@code rank_pattern}, where one alpha cannot give every rank its own sqrt;</li>
 * <li>{@code rank_pattern} is accepted (each pair's rank is its own in llama.cpp too); {@code alpha_pattern} is
 *     refused (llama.cpp has one alpha per adapter); {@code layers_to_transform} is accepted (the other layers have
 *     no pair);</li>
 * <li>refused: {@code use_dora} (DoRA's magnitude vectors: llama.cpp has no DoRA), {@code fan_in_fan_out}
 *     (GPT-2-style Conv1D weights; none of the architectures converted has them), {@code bias} other than
 *     {@code none} and {@code lora_bias} (bias tensors: llama.cpp's LoRA has none), {@code modules_to_save} and
 *     {@code trainable_token_indices} (whole modules or token rows saved beside the LoRA: convert_lora_to_gguf.py
 *     stops at them too), {@code layer_replication} (a model with more layers than the base), {@code use_qalora},
 *     {@code target_parameters};</li>
 * <li>{@code alora_invocation_tokens} (activated LoRA) is kept, as convert_lora_to_gguf.py writes it
 *     ({@code adapter.alora_invocation_tokens}); an {@code invocation_string} without tokens is refused (tokenizing it
 *     needs the Hugging Face tokenizer).</li>
 * </ul>
 *
 * @param alpha the alpha to write to {@code adapter.lora.alpha}: lora_alpha, times sqrt(r) with rslora
 */
public record PeftConfig(int rank, double loraAlpha, boolean rslora, List<String> targetModules, float alpha,
        int[] aloraInvocationTokens) {
    public static final String FILE = "adapter_config.json";

    private static final ObjectMapper JSON = new ObjectMapper();

    public PeftConfig {
        targetModules = List.copyOf(targetModules);
        aloraInvocationTokens = aloraInvocationTokens == null ? null : aloraInvocationTokens.clone();
    }

    /** Reads and checks {@code file}; a {@link PeftException} in one line naming the file and the setting. */
    public static PeftConfig read(Path file) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (JsonProcessingException e) {
            throw bad(file, "not JSON (" + e.getOriginalMessage() + ")");
        } catch (java.nio.charset.MalformedInputException e) {
            throw bad(file, "not UTF-8 text");
        }
        if (root == null || !root.isObject()) {
            throw bad(file, "not a JSON object");
        }
        String type = text(root, "peft_type");
        if (type != null && !type.equals("LORA")) {
            throw bad(file, "peft_type is " + type + "; only LoRA adapters (LORA) run in llama.cpp");
        }
        JsonNode r = root.get("r");
        if (r == null || !r.isIntegralNumber() || !r.canConvertToInt() || r.asInt() <= 0) {
            throw bad(file, "needs \"r\", the rank, a positive integer" + (r == null ? "" : " (got " + r + ")"));
        }
        JsonNode a = root.get("lora_alpha");
        if (a == null || !a.isNumber() || !Double.isFinite(a.asDouble())) {
            throw bad(file, "needs \"lora_alpha\", a number" + (a == null ? "" : " (got " + a + ")"));
        }
        if (a.asDouble() == 0) {
            throw bad(file, "lora_alpha is 0: PEFT's scale is then 0, and llama.cpp reads alpha 0 as 'no alpha' "
                    + "(scale 1); the adapter would change the model where PEFT's does not");
        }
        if (flag(root, "use_dora")) {
            throw bad(file, "use_dora is true: llama.cpp has no DoRA (weight-decomposed LoRA); merge it into the base "
                    + "model with peft's merge_and_unload instead");
        }
        if (flag(root, "fan_in_fan_out")) {
            throw bad(file, "fan_in_fan_out is true (GPT-2-style Conv1D weights); the architectures molora converts "
                    + "have Linear layers: retrain with fan_in_fan_out false");
        }
        String bias = text(root, "bias");
        if (bias != null && !bias.equals("none")) {
            throw bad(file, "bias is \"" + bias + "\": llama.cpp's LoRA has no bias tensors; train with bias \"none\"");
        }
        if (flag(root, "lora_bias")) {
            throw bad(file, "lora_bias is true: llama.cpp's LoRA has no bias on lora_B");
        }
        if (flag(root, "use_qalora")) {
            throw bad(file, "use_qalora is true: QA-LoRA's pooled inputs are not a LoRA llama.cpp can run");
        }
        for (String key : List.of("modules_to_save", "trainable_token_indices", "layer_replication",
                "target_parameters")) {
            if (present(root.get(key))) {
                throw bad(file, key + " is set (" + root.get(key) + "): " + switch (key) {
                    case "modules_to_save" -> "whole modules are saved beside the LoRA, which a llama.cpp adapter "
                            + "cannot hold (convert_lora_to_gguf.py stops at them too)";
                    case "trainable_token_indices" -> "trained token embeddings are saved beside the LoRA, which a "
                            + "llama.cpp adapter cannot hold";
                    case "layer_replication" -> "the adapted model has more layers than the base";
                    default -> "LoRA on parameters (not modules) is not a LoRA llama.cpp can run";
                });
            }
        }
        if (present(root.get("alpha_pattern"))) {
            throw bad(file, "alpha_pattern is set (" + root.get("alpha_pattern") + "): llama.cpp applies one alpha "
                    + "to the whole adapter");
        }
        boolean rslora = flag(root, "use_rslora");
        if (rslora && present(root.get("rank_pattern"))) {
            throw bad(file, "use_rslora with a rank_pattern: llama.cpp's one alpha cannot give each rank its own "
                    + "alpha / sqrt(r)");
        }
        List<String> targets = new ArrayList<>();
        JsonNode t = root.get("target_modules");
        if (t != null && t.isArray()) {
            t.forEach(n -> targets.add(n.asText()));
        } else if (t != null && t.isTextual()) {
            targets.add(t.asText());
        }
        int[] alora = null;
        JsonNode tokens = root.get("alora_invocation_tokens");
        if (present(tokens)) {
            if (!tokens.isArray()) {
                throw bad(file, "alora_invocation_tokens must be a list of token ids");
            }
            alora = new int[tokens.size()];
            for (int i = 0; i < alora.length; i++) {
                JsonNode id = tokens.get(i);
                if (!id.isIntegralNumber() || id.asLong() < 0 || id.asLong() > 0xffffffffL) {
                    throw bad(file, "alora_invocation_tokens must be a list of token ids, got " + id);
                }
                alora[i] = (int) id.asLong();
            }
        } else if (text(root, "invocation_string") != null && !text(root, "invocation_string").isEmpty()) {
            throw bad(file, "invocation_string without alora_invocation_tokens: tokenizing it needs the Hugging Face "
                    + "tokenizer; give the token ids as alora_invocation_tokens");
        }
        double loraAlpha = a.asDouble();
        // convert_lora_to_gguf.py: add_float32(LORA_ALPHA, float(lora_alpha)); rslora as described above
        float alpha = rslora ? (float) (loraAlpha * Math.sqrt(r.asInt())) : (float) loraAlpha;
        return new PeftConfig(r.asInt(), loraAlpha, rslora, targets, alpha, alora);
    }

    private static String text(JsonNode root, String key) {
        JsonNode n = root.get(key);
        return n == null || n.isNull() ? null : n.asText();
    }

    private static boolean flag(JsonNode root, String key) {
        JsonNode n = root.get(key);
        return n != null && n.asBoolean();
    }

    /** Set to something: not absent, null, false, empty text, an empty list or an empty object. */
    private static boolean present(JsonNode n) {
        if (n == null || n.isNull() || n.isBoolean()) {
            return n != null && n.asBoolean();
        }
        if (n.isContainerNode()) {
            return n.size() > 0;
        }
        return !n.isTextual() || !n.asText().isEmpty();
    }

    private static PeftException bad(Path file, String what) {
        return new PeftException(file + ": " + what);
    }
}
