package io.molora.gguf;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Checks that a LoRA adapter will load onto a base model, applying the rules of llama.cpp's
 * llama_adapter_lora_init_impl (src/llama-adapter.cpp, v0.5.0) without loading anything:
 * <ul>
 * <li>general.type is the string "adapter", adapter.type the string "lora", and
 *     general.architecture equals the base model's;</li>
 * <li>adapter.lora.alpha, when present, is FLOAT32 (llama.cpp's gguf_get_val_f32 aborts
 *     otherwise); adapter.alora_invocation_tokens, when present, is an array of UINT32;</li>
 * <li>every tensor ends in .lora_a, .lora_b or _norm.weight (norms are ignored);</li>
 * <li>every pair is complete and targets a tensor X that exists in the base model;</li>
 * <li>for token_embd (A and B flipped, see llm_build_inp_embd): X.ne[0] == B.ne[1],
 *     X.ne[1] == A.ne[1], and A.ne[0] == B.ne[0] for the matmul;</li>
 * <li>otherwise: X.ne[0] == A.ne[0], X.ne[1] == B.ne[1] and A.ne[1] == B.ne[0].</li>
 * </ul>
 * llama.cpp places no restriction on the tensor types of A and B, so neither does this check.
 */
public final class LoraCompatibility {

    /** One reason the adapter would not load; {@code tensor} is empty for file-level problems. */
    public record Problem(String tensor, String message) {
        @Override
        public String toString() {
            return tensor.isEmpty() ? message : tensor + ": " + message;
        }
    }

    private LoraCompatibility() {}

    /** All problems found; an empty list means llama.cpp will accept the adapter for this model. */
    public static List<Problem> check(GgufFile base, GgufFile adapter) {
        List<Problem> problems = new ArrayList<>();
        checkMetadata(base, adapter, problems);
        AdapterInfo info;
        try {
            info = AdapterInfo.of(adapter);
        } catch (GgufFormatException e) {
            problems.add(new Problem("", e.getMessage()));
            return problems;
        }
        for (String t : info.unexpectedTensors()) {
            problems.add(new Problem(t, "unexpected suffix: LoRA tensors must end in .lora_a or .lora_b"));
        }
        for (LoraPair pair : info.pairs()) {
            checkPair(base, pair, problems);
        }
        return problems;
    }

    private static void checkMetadata(GgufFile base, GgufFile adapter, List<Problem> problems) {
        String generalType = stringOrProblem(adapter, "general.type", problems);
        if (!"adapter".equals(generalType)) {
            problems.add(new Problem("", "general.type must be 'adapter' but is '" + nullToEmpty(generalType) + "'"));
        }
        String adapterType = stringOrProblem(adapter, "adapter.type", problems);
        if (!"lora".equals(adapterType)) {
            problems.add(new Problem("", "adapter.type must be 'lora' but is '" + nullToEmpty(adapterType) + "'"));
        }
        String adapterArch = stringOrProblem(adapter, "general.architecture", problems);
        String baseArch = stringOrProblem(base, "general.architecture", problems);
        if (adapterArch == null || !adapterArch.equals(baseArch)) {
            problems.add(new Problem("", "architecture mismatch: adapter is '" + nullToEmpty(adapterArch)
                    + "', base model is '" + nullToEmpty(baseArch) + "'"));
        }
        adapter.get("adapter.lora.alpha").ifPresent(v -> {
            if (v.type() != GgufValueType.FLOAT32) {
                problems.add(new Problem("", "adapter.lora.alpha must be FLOAT32 but is " + v.type()));
            }
        });
        adapter.get("adapter.alora_invocation_tokens").ifPresent(v -> {
            if (v.type() != GgufValueType.ARRAY || v.asArray().elementType() != GgufValueType.UINT32) {
                problems.add(new Problem("", "adapter.alora_invocation_tokens must be an array of UINT32"));
            }
        });
    }

    private static String stringOrProblem(GgufFile file, String key, List<Problem> problems) {
        Optional<GgufValue> v = file.get(key);
        if (v.isEmpty()) {
            return null;
        }
        if (v.get().type() != GgufValueType.STRING) {
            problems.add(new Problem("", key + " in " + file.source() + " must be a STRING but is " + v.get().type()));
            return null;
        }
        return v.get().asString();
    }

    private static void checkPair(GgufFile base, LoraPair pair, List<Problem> problems) {
        String name = pair.baseTensor();
        if (!pair.complete()) {
            problems.add(new Problem(name, "LoRA pair is missing " + (pair.a() == null ? name + ".lora_a" : name + ".lora_b")));
            return;
        }
        Optional<GgufTensorInfo> target = base.tensor(name);
        if (target.isEmpty()) {
            problems.add(new Problem(name, "targets a tensor that does not exist in the base model"));
            return;
        }
        GgufTensorInfo x = target.get();
        GgufTensorInfo a = pair.a();
        GgufTensorInfo b = pair.b();
        String shapes = " (base " + Arrays.toString(x.shape()) + ", lora_a " + Arrays.toString(a.shape())
                + ", lora_b " + Arrays.toString(b.shape()) + ")";
        if (name.endsWith("token_embd.weight")) {
            // llm_build_inp_embd: delta = B x get_rows(A, tokens); A is [r, n_vocab], B is [r, n_embd]
            if (x.dim(0) != b.dim(1)) {
                problems.add(new Problem(name, "base ne[0]=" + x.dim(0) + " must equal lora_b ne[1]=" + b.dim(1) + shapes));
            }
            if (x.dim(1) != a.dim(1)) {
                problems.add(new Problem(name, "base ne[1]=" + x.dim(1) + " must equal lora_a ne[1]=" + a.dim(1) + shapes));
            }
            if (a.dim(0) != b.dim(0)) {
                problems.add(new Problem(name, "lora_a ne[0]=" + a.dim(0) + " must equal lora_b ne[0]=" + b.dim(0)
                        + " (the rank)" + shapes));
            }
        } else {
            if (x.dim(0) != a.dim(0)) {
                problems.add(new Problem(name, "base ne[0]=" + x.dim(0) + " must equal lora_a ne[0]=" + a.dim(0) + shapes));
            }
            if (x.dim(1) != b.dim(1)) {
                problems.add(new Problem(name, "base ne[1]=" + x.dim(1) + " must equal lora_b ne[1]=" + b.dim(1) + shapes));
            }
            if (a.dim(1) != b.dim(0)) {
                problems.add(new Problem(name, "lora_a ne[1]=" + a.dim(1) + " must equal lora_b ne[0]=" + b.dim(0)
                        + " (the rank; is lora_a transposed?)" + shapes));
            }
        }
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }
}
