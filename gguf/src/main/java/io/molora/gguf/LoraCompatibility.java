package io.molora.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Checks that a LoRA adapter will load onto a base model, applying the rules of llama.cpp's
 * llama_adapter_lora_init_impl (src/llama-adapter.cpp, v0.5.0) without loading anything:
 * <ul>
 * <li>general.type is the string "adapter", adapter.type the string "lora", and
 *     general.architecture equals the base model's;</li>
 * <li>adapter.lora.alpha, when present, is FLOAT32 (llama.cpp's gguf_get_val_f32 aborts
 *     otherwise), finite, and alpha / rank, the scale it gives each pair, at most {@value #MAX_SCALE} in
 *     magnitude (NaN or 1e30 turn every logit into NaN or infinity: the model writes nothing);
 *     adapter.alora_invocation_tokens, when present, is an array of UINT32;</li>
 * <li>every tensor ends in .lora_a, .lora_b or _norm.weight (norms are ignored);</li>
 * <li>every pair is complete and targets a tensor X that exists in the base model;</li>
 * <li>for token_embd (A and B flipped, see llm_build_inp_embd): X.ne[0] == B.ne[1],
 *     X.ne[1] == A.ne[1], and A.ne[0] == B.ne[0] for the matmul;</li>
 * <li>otherwise: X.ne[0] == A.ne[0], X.ne[1] == B.ne[1] and A.ne[1] == B.ne[0];</li>
 * <li>A and B are of a type ggml's CPU backend can multiply ({@link ModelCheck#MATMUL_TYPES}): llama.cpp loads
 *     any type and aborts at the first decode on one it cannot.</li>
 * <li>adapter.type "comol" (patch 0011): every pair has an F32 X.comol_router of ne [r, E] and an F32
 *     X.comol_core of ne [r*E, r] (r: the pair's rank), and no other gate tensor; X is a dense 2-D weight, not
 *     token_embd.</li>
 * <li>adapter.type "samora" (patch 0012): adapter.lora.alpha is 0 (or absent); every pair's lora_b holds E expert
 *     Bs side by side (ne [r*E, n_out]) and has an F32 X.samora_keys of ne [r, E] and an F32 X.samora_tau of ne
 *     [tasks + 1], the same number of tasks everywhere (and adapter.samora.tasks, when present, names that many);
 *     X is a dense 2-D weight, not token_embd.</li>
 * <li>the gate tensors of a mixture hold finite numbers (llama.cpp reads them as they are: a NaN in one makes every
 *     logit NaN).</li>
 * </ul>
 */
public final class LoraCompatibility {

    /** One reason the adapter would not load; {@code tensor} is empty for file-level problems. */
    public record Problem(String tensor, String message) {
        @Override
        public String toString() {
            return tensor.isEmpty() ? message : tensor + ": " + message;
        }
    }

    /**
     * The largest scale molora applies to an adapter, as a user scale ({@code --lora-scaled}) or as alpha / rank:
     * real adapters use about 0.1 to 10; far beyond that the logits overflow to infinity and generation stops.
     */
    public static final float MAX_SCALE = 1e4f;

    private LoraCompatibility() {}

    /** All problems found; an empty list means llama.cpp will accept the adapter for this model. */
    public static List<Problem> check(GgufFile base, GgufFile adapter) {
        List<Problem> problems = new ArrayList<>();
        String baseArch = stringOrProblem(base, "general.architecture", problems);
        AdapterInfo info = checkAdapter(adapter, problems);
        String adapterArch = adapter.get("general.architecture").filter(v -> v.type() == GgufValueType.STRING)
                .map(GgufValue::asString).orElse(null);
        if (adapterArch == null || !adapterArch.equals(baseArch)) {
            problems.add(new Problem("", "architecture mismatch: adapter is '" + nullToEmpty(adapterArch)
                    + "', base model is '" + nullToEmpty(baseArch) + "'"));
        }
        if (info != null) {
            for (LoraPair pair : info.pairs()) {
                if (pair.complete()) {
                    checkPair(base, pair, info.kind().orElse(null) == AdapterInfo.Kind.SAMORA, problems);
                }
                if (info.isGated()) {
                    base.tensor(pair.baseTensor()).filter(x -> x.shape().length > 2 && x.dim(2) > 1).ifPresent(x ->
                            problems.add(new Problem(pair.baseTensor(), info.kind().get().label() + " adapter: a gate "
                                    + "needs a dense 2-D weight, this one is " + Arrays.toString(x.shape())
                                    + " (MoE experts)")));
                }
            }
        }
        return problems;
    }

    /**
     * The problems an adapter has whatever the base model: its metadata, its alpha, its tensor names and pairs.
     * {@code molora inspect ADAPTER} reports these; {@link #check} adds the base model's side.
     */
    public static List<Problem> checkAdapter(GgufFile adapter) {
        List<Problem> problems = new ArrayList<>();
        checkAdapter(adapter, problems);
        return problems;
    }

    private static AdapterInfo checkAdapter(GgufFile adapter, List<Problem> problems) {
        checkMetadata(adapter, problems);
        AdapterInfo info;
        try {
            info = AdapterInfo.of(adapter);
        } catch (GgufFormatException e) {
            problems.add(new Problem("", e.getMessage()));
            return null;
        }
        AdapterInfo.Kind kind = info.kind().orElse(AdapterInfo.Kind.LORA);
        for (String t : info.unexpectedTensors()) {
            problems.add(new Problem(t, "unexpected suffix: LoRA tensors must end in .lora_a or .lora_b"
                    + (kind.gated() ? " (or, in a " + kind.label() + " adapter, " + kind.routerSuffix() + " / "
                    + kind.tableSuffix() + ")" : "")));
        }
        if (kind.gated()) {
            checkGates(adapter, info, kind, problems);
        }
        long smallestRank = Long.MAX_VALUE;
        for (LoraPair pair : info.pairs()) {
            if (!pair.complete()) {
                String name = pair.baseTensor();
                problems.add(new Problem(name, "LoRA pair is missing "
                        + (pair.a() == null ? name + ".lora_a" : name + ".lora_b")));
            } else {
                smallestRank = Math.min(smallestRank, pair.rank());
                for (GgufTensorInfo t : new GgufTensorInfo[] {pair.a(), pair.b()}) {
                    if (!ModelCheck.MATMUL_TYPES.contains(t.type())) {
                        problems.add(new Problem(t.name(), "type " + t.type() + ": ggml's CPU backend has no matrix"
                                + " product for it (it aborts at the first decode)"));
                    }
                }
            }
        }
        Optional<GgufValue> alphaValue = adapter.get("adapter.lora.alpha");
        if (alphaValue.isPresent() && alphaValue.get().type() == GgufValueType.FLOAT32) {
            float alpha = (Float) alphaValue.get().value();
            if (!Float.isFinite(alpha)) {
                problems.add(new Problem("", "adapter.lora.alpha = " + alpha + ": must be a finite number"));
            } else if (smallestRank != Long.MAX_VALUE && Math.abs(alpha) / smallestRank > MAX_SCALE) {
                problems.add(new Problem("", "adapter.lora.alpha = " + alpha + ": alpha / rank (rank " + smallestRank
                        + ") must be at most " + MAX_SCALE + " in magnitude"));
            }
        }
        return info;
    }

    /** A mixture: each pair's gate tensors, by the shapes patches 0011 (CoMoL) and 0012 (SAMoRA) multiply. */
    private static void checkGates(GgufFile adapter, AdapterInfo info, AdapterInfo.Kind kind, List<Problem> problems) {
        String label = kind.label() + " adapter: ";
        Map<String, AdapterInfo.Gate> gates = new HashMap<>();
        info.gates().forEach(g -> gates.put(g.baseTensor(), g));
        long tasks = -1;   // SAMoRA: the number of tasks of the first tau table
        for (LoraPair pair : info.pairs()) {
            String name = pair.baseTensor();
            AdapterInfo.Gate g = gates.remove(name);
            if (g == null || g.router() == null || g.table() == null) {
                problems.add(new Problem(name, label + "missing " + name
                        + (g == null || g.table() == null ? kind.tableSuffix() : kind.routerSuffix())));
                continue;
            }
            if (name.endsWith("token_embd.weight")) {
                problems.add(new Problem(name, label + "token embeddings cannot take a gate"));
                continue;
            }
            if (!pair.complete()) {
                continue;
            }
            long r = pair.a().dim(1);
            GgufTensorInfo router = g.router();
            GgufTensorInfo table = g.table();
            long e = router.dim(1);
            if (router.shape().length > 2 || router.dim(0) != r || e < 1) {
                problems.add(new Problem(router.name(), "must have ne [" + r + ", E] (the rank, then the number of "
                        + (kind == AdapterInfo.Kind.COMOL ? "cores" : "experts") + "), has "
                        + Arrays.toString(router.shape())));
            } else if (kind == AdapterInfo.Kind.COMOL) {
                if (table.shape().length > 2 || table.dim(0) != r * e || table.dim(1) != r) {
                    problems.add(new Problem(table.name(), "must have ne [" + (r * e) + ", " + r + "] (rank " + r
                            + " x " + e + " cores, then the rank), has " + Arrays.toString(table.shape())));
                }
            } else {
                if (pair.b().dim(0) != r * e) {
                    problems.add(new Problem(pair.b().name(), "must have ne [" + (r * e) + ", n_out] (the " + e
                            + " expert Bs of rank " + r + " side by side), has " + Arrays.toString(pair.b().shape())));
                }
                if (table.shape().length > 1 || table.dim(0) < 2) {
                    problems.add(new Problem(table.name(), "must have ne [tasks + 1] (a scale per task, then the "
                            + "unseen task's), has " + Arrays.toString(table.shape())));
                } else if (tasks < 0) {
                    tasks = table.dim(0) - 1;
                } else if (table.dim(0) - 1 != tasks) {
                    problems.add(new Problem(table.name(), "has " + (table.dim(0) - 1) + " tasks, the tables before "
                            + "it " + tasks));
                }
            }
            for (GgufTensorInfo t : new GgufTensorInfo[] {router, table}) {
                if (t.type() != GgmlType.F32) {
                    problems.add(new Problem(t.name(), "must be F32 (llama.cpp's " + kind.label() + " gate reads F32), is "
                            + t.type()));
                } else {
                    checkFinite(adapter, t, problems);
                }
            }
        }
        for (String extra : gates.keySet()) {
            problems.add(new Problem(extra, label + "gate tensors without a LoRA pair (.lora_a / .lora_b)"));
        }
        if (kind == AdapterInfo.Kind.SAMORA) {
            if (info.alpha() != 0f) {
                problems.add(new Problem("", label + "adapter.lora.alpha must be 0 (SAMoRA's update has no alpha / r), "
                        + "is " + info.alpha()));
            }
            if (tasks >= 0 && !info.tasks().isEmpty() && info.tasks().size() != tasks) {
                problems.add(new Problem("", label + AdapterInfo.TASKS_KEY + " names " + info.tasks().size()
                        + " tasks, the tau tables have " + tasks));
            }
        }
    }

    private static void checkFinite(GgufFile adapter, GgufTensorInfo t, List<Problem> problems) {
        MemorySegment data = adapter.tensorData(t);
        long n = data.byteSize() / Float.BYTES;
        for (long i = 0; i < n; i++) {
            float v = data.getAtIndex(F32_LE, i);
            if (!Float.isFinite(v)) {
                problems.add(new Problem(t.name(), "element " + i + " is " + v + ": a gate tensor must hold finite "
                        + "numbers"));
                return;
            }
        }
    }

    private static final ValueLayout.OfFloat F32_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    private static void checkMetadata(GgufFile adapter, List<Problem> problems) {
        String generalType = stringOrProblem(adapter, "general.type", problems);
        if (!"adapter".equals(generalType)) {
            problems.add(new Problem("", "general.type must be 'adapter' but is '" + nullToEmpty(generalType) + "'"));
        }
        String adapterType = stringOrProblem(adapter, "adapter.type", problems);
        if (AdapterInfo.Kind.ofType(adapterType).isEmpty()) {
            problems.add(new Problem("", "adapter.type must be 'lora' (or 'comol', 'samora') but is '"
                    + nullToEmpty(adapterType) + "'"));
        }
        adapter.get(AdapterInfo.TASKS_KEY).ifPresent(v -> {
            if (v.type() != GgufValueType.ARRAY || v.asArray().elementType() != GgufValueType.STRING) {
                problems.add(new Problem("", AdapterInfo.TASKS_KEY + " must be an array of STRING"));
            }
        });
        stringOrProblem(adapter, "general.architecture", problems);
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

    /** {@code experts}: a SAMoRA pair, whose lora_b has the E experts' ranks (checked with its gate). */
    private static void checkPair(GgufFile base, LoraPair pair, boolean experts, List<Problem> problems) {
        String name = pair.baseTensor();
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
            if (!experts && a.dim(1) != b.dim(0)) {
                problems.add(new Problem(name, "lora_a ne[1]=" + a.dim(1) + " must equal lora_b ne[0]=" + b.dim(0)
                        + " (the rank; is lora_a transposed?)" + shapes));
            }
        }
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }
}
