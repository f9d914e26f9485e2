package io.molora.gguf;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/** Each rule of llama_adapter_lora_init_impl, violated once, reported with tensor and shapes. */
class LoraCompatibilityTest {
    @TempDir
    Path dir;
    Path base;

    @BeforeEach
    void writeBase() throws Exception {
        base = dir.resolve("base.gguf");
        new GgufWriter().put("general.architecture", "llama")
                .addTensor("token_embd.weight", GgmlType.F32, new long[] {32, 100}, zeros(32 * 100))
                .addTensor("blk.0.attn_q.weight", GgmlType.Q8_0, new long[] {32, 32}, zerosQ8(32, 32))
                .addTensor("blk.0.ffn_down.weight", GgmlType.F32, new long[] {64, 32}, zeros(64 * 32))
                .write(base);
    }

    private static TensorSource zeros(int n) {
        return TensorSources.ofBytes(new byte[n * 4]);
    }

    private static TensorSource zerosQ8(int rowLength, int rows) {
        return TensorSources.ofFloats(GgmlType.Q8_0, rowLength, new float[rowLength * rows]);
    }

    private static GgufWriter adapter() {
        return new GgufWriter().put("general.architecture", "llama").put("general.type", "adapter")
                .put("adapter.type", "lora").put("adapter.lora.alpha", GgufValue.of(8f));
    }

    private static void pair(GgufWriter w, String base, long[] a, long[] b) {
        w.addTensor(base + ".lora_a", GgmlType.F32, a, zeros((int) (a[0] * a[1])));
        w.addTensor(base + ".lora_b", GgmlType.F32, b, zeros((int) (b[0] * b[1])));
    }

    private List<LoraCompatibility.Problem> check(Consumer<GgufWriter> build) throws Exception {
        GgufWriter w = adapter();
        build.accept(w);
        Path file = dir.resolve("adapter.gguf");
        w.write(file);
        try (GgufFile b = GgufFile.open(base); GgufFile a = GgufFile.open(file)) {
            return LoraCompatibility.check(b, a);
        }
    }

    private static void onlyProblem(List<LoraCompatibility.Problem> problems, String tensor, String fragment) {
        assertEquals(1, problems.size(), problems.toString());
        assertEquals(tensor, problems.get(0).tensor());
        assertTrue(problems.get(0).message().contains(fragment), problems.get(0).message());
    }

    @Test
    void validAdapterHasNoProblems() throws Exception {
        assertEquals(List.of(), check(w -> {
            pair(w, "blk.0.attn_q.weight", new long[] {32, 4}, new long[] {4, 32});
            pair(w, "blk.0.ffn_down.weight", new long[] {64, 4}, new long[] {4, 32});
            pair(w, "token_embd.weight", new long[] {4, 100}, new long[] {4, 32});
            w.addTensor("blk.0.attn_norm.weight", GgmlType.F32, new long[] {32}, zeros(32)); // ignored like llama.cpp
        }));
    }

    private static void gate(GgufWriter w, String base, long[] core, long[] router, GgmlType type) {
        w.addTensor(base + ".comol_core", type, core, type == GgmlType.F32 ? zeros((int) (core[0] * core[1]))
                : TensorSources.ofBytes(new byte[(int) (core[0] * core[1]) * 2]));
        w.addTensor(base + ".comol_router", GgmlType.F32, router, zeros((int) (router[0] * router[1])));
    }

    /** A CoMoL adapter of rank 4 and 3 cores on attn_q and ffn_down; {@code more} adds or breaks something. */
    private List<LoraCompatibility.Problem> comol(Consumer<GgufWriter> more) throws Exception {
        return check(w -> {
            w.put("adapter.type", AdapterInfo.Kind.COMOL.type());
            pair(w, "blk.0.attn_q.weight", new long[] {32, 4}, new long[] {4, 32});
            pair(w, "blk.0.ffn_down.weight", new long[] {64, 4}, new long[] {4, 32});
            gate(w, "blk.0.attn_q.weight", new long[] {12, 4}, new long[] {4, 3}, GgmlType.F32);
            more.accept(w);
        });
    }

    @Test
    void comolAdapterWithEveryGateHasNoProblems() throws Exception {
        assertEquals(List.of(), comol(w -> gate(w, "blk.0.ffn_down.weight", new long[] {12, 4}, new long[] {4, 3},
                GgmlType.F32)));
    }

    @Test
    void comolAdapterRules() throws Exception {
        onlyProblem(comol(w -> {}), "blk.0.ffn_down.weight", "missing blk.0.ffn_down.weight.comol_core");
        onlyProblem(comol(w -> gate(w, "blk.0.ffn_down.weight", new long[] {8, 4}, new long[] {4, 3}, GgmlType.F32)),
                "blk.0.ffn_down.weight.comol_core", "must have ne [12, 4]");
        onlyProblem(comol(w -> gate(w, "blk.0.ffn_down.weight", new long[] {12, 4}, new long[] {5, 3}, GgmlType.F32)),
                "blk.0.ffn_down.weight.comol_router", "must have ne [4, E]");
        onlyProblem(comol(w -> gate(w, "blk.0.ffn_down.weight", new long[] {12, 4}, new long[] {4, 3}, GgmlType.F16)),
                "blk.0.ffn_down.weight.comol_core", "must be F32");
        var extra = comol(w -> {
            gate(w, "blk.0.ffn_down.weight", new long[] {12, 4}, new long[] {4, 3}, GgmlType.F32);
            gate(w, "blk.0.attn_k.weight", new long[] {12, 4}, new long[] {4, 3}, GgmlType.F32);
        });
        onlyProblem(extra, "blk.0.attn_k.weight", "without a LoRA pair");
    }

    private static void samoraGate(GgufWriter w, String base, long[] keys, long tau, float... keyValues) {
        w.addTensor(base + ".samora_keys", GgmlType.F32, keys, keyValues.length > 0
                ? TensorSources.ofFloats(GgmlType.F32, (int) keys[0], keyValues) : zeros((int) (keys[0] * keys[1])));
        w.addTensor(base + ".samora_tau", GgmlType.F32, new long[] {tau}, zeros((int) tau));
    }

    /**
     * A SAMoRA adapter of rank 4 with 3 expert Bs (lora_b ne [12, n_out]) and 2 tasks on attn_q, and ffn_down's pair
     * with lora_b ne {@code downB}; {@code more} adds or breaks something.
     */
    private List<LoraCompatibility.Problem> samora(long[] downB, Consumer<GgufWriter> more) throws Exception {
        return check(w -> {
            w.put("adapter.type", AdapterInfo.Kind.SAMORA.type()).put("adapter.lora.alpha", GgufValue.of(0f));
            w.put(AdapterInfo.TASKS_KEY, GgufValue.of(GgufArray.ofStrings(List.of("code", "math"))));
            pair(w, "blk.0.attn_q.weight", new long[] {32, 4}, new long[] {12, 32});
            pair(w, "blk.0.ffn_down.weight", new long[] {64, 4}, downB);
            samoraGate(w, "blk.0.attn_q.weight", new long[] {4, 3}, 3);
            more.accept(w);
        });
    }

    @Test
    void samoraAdapterWithEveryGateHasNoProblems() throws Exception {
        assertEquals(List.of(), samora(new long[] {12, 32},
                w -> samoraGate(w, "blk.0.ffn_down.weight", new long[] {4, 3}, 3)));
    }

    @Test
    void samoraAdapterRules() throws Exception {
        long[] experts = {12, 32};
        onlyProblem(samora(experts, w -> {}), "blk.0.ffn_down.weight", "missing blk.0.ffn_down.weight.samora_tau");
        onlyProblem(samora(new long[] {4, 32}, w -> samoraGate(w, "blk.0.ffn_down.weight", new long[] {4, 3}, 3)),
                "blk.0.ffn_down.weight.lora_b", "must have ne [12, n_out]");
        onlyProblem(samora(experts, w -> samoraGate(w, "blk.0.ffn_down.weight", new long[] {5, 3}, 3)),
                "blk.0.ffn_down.weight.samora_keys", "must have ne [4, E]");
        onlyProblem(samora(experts, w -> samoraGate(w, "blk.0.ffn_down.weight", new long[] {4, 3}, 4)),
                "blk.0.ffn_down.weight.samora_tau", "has 3 tasks, the tables before it 2");
        onlyProblem(samora(experts, w -> samoraGate(w, "blk.0.ffn_down.weight", new long[] {4, 3}, 1)),
                "blk.0.ffn_down.weight.samora_tau", "must have ne [tasks + 1]");
        float[] keys = new float[12];
        keys[7] = Float.NaN;
        onlyProblem(samora(experts, w -> samoraGate(w, "blk.0.ffn_down.weight", new long[] {4, 3}, 3, keys)),
                "blk.0.ffn_down.weight.samora_keys", "element 7 is NaN");
        onlyProblem(samora(experts, w -> {
            samoraGate(w, "blk.0.ffn_down.weight", new long[] {4, 3}, 3);
            w.put("adapter.lora.alpha", GgufValue.of(8f));
        }), "", "adapter.lora.alpha must be 0");
        onlyProblem(samora(experts, w -> {
            samoraGate(w, "blk.0.ffn_down.weight", new long[] {4, 3}, 3);
            w.put(AdapterInfo.TASKS_KEY, GgufValue.of(GgufArray.ofStrings(List.of("code"))));
        }), "", "names 1 tasks, the tau tables have 2");
    }

    @Test
    void gateTensorsInAPlainLoraAreUnexpected() throws Exception {
        var p = check(w -> {
            pair(w, "blk.0.attn_q.weight", new long[] {32, 4}, new long[] {4, 32});
            gate(w, "blk.0.attn_q.weight", new long[] {12, 4}, new long[] {4, 3}, GgmlType.F32);
        });
        assertEquals(2, p.size(), p.toString());
        assertTrue(p.stream().allMatch(x -> x.message().startsWith("unexpected suffix")), p.toString());
    }

    @Test
    void wrongArchitecture() throws Exception {
        var p = check(w -> {
            w.put("general.architecture", "qwen2");
            pair(w, "blk.0.attn_q.weight", new long[] {32, 4}, new long[] {4, 32});
        });
        onlyProblem(p, "", "architecture mismatch: adapter is 'qwen2', base model is 'llama'");
    }

    @Test
    void notAnAdapter() throws Exception {
        var p = check(w -> {
            w.put("general.type", "model");
            pair(w, "blk.0.attn_q.weight", new long[] {32, 4}, new long[] {4, 32});
        });
        onlyProblem(p, "", "general.type must be 'adapter' but is 'model'");
    }

    @Test
    void notLora() throws Exception {
        var p = check(w -> {
            w.put("adapter.type", "control_vector");
            pair(w, "blk.0.attn_q.weight", new long[] {32, 4}, new long[] {4, 32});
        });
        onlyProblem(p, "", "adapter.type must be 'lora' (or 'comol', 'samora') but is 'control_vector'");
    }

    @Test
    void alphaOfWrongType() throws Exception {
        var p = check(w -> {
            w.put("adapter.lora.alpha", GgufValue.ofUint32(8));
            pair(w, "blk.0.attn_q.weight", new long[] {32, 4}, new long[] {4, 32});
        });
        onlyProblem(p, "", "adapter.lora.alpha must be FLOAT32 but is UINT32");
    }

    @Test
    void alphaMustBeFiniteAndNotAbsurd() throws Exception {
        // rank 4: alpha / rank is the scale every pair gets at --lora (scale 1)
        for (float alpha : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            List<LoraCompatibility.Problem> p = check(w -> {
                w.put("adapter.lora.alpha", GgufValue.of(alpha));
                pair(w, "blk.0.ffn_down.weight", new long[] {64, 4}, new long[] {4, 32});
            });
            onlyProblem(p, "", "adapter.lora.alpha = " + alpha + ": must be a finite number");
        }
        List<LoraCompatibility.Problem> huge = check(w -> {
            w.put("adapter.lora.alpha", GgufValue.of(1e30f));
            pair(w, "blk.0.ffn_down.weight", new long[] {64, 4}, new long[] {4, 32});
        });
        onlyProblem(huge, "", "adapter.lora.alpha = 1.0E30: alpha / rank (rank 4) must be at most 10000.0");
        // 4e4 / 4 = 1e4 exactly is allowed; negative alpha too (it flips the update's sign)
        for (float alpha : new float[] {4e4f, -4e4f, 0f}) {
            assertEquals(List.of(), check(w -> {
                w.put("adapter.lora.alpha", GgufValue.of(alpha));
                pair(w, "blk.0.ffn_down.weight", new long[] {64, 4}, new long[] {4, 32});
            }), "alpha " + alpha);
        }
    }

    @Test
    void loraTensorsMustBeOfATypeTheCpuCanMultiply() throws Exception {
        List<LoraCompatibility.Problem> p = check(w -> {
            w.addTensor("blk.0.ffn_down.weight.lora_a", GgmlType.I32, new long[] {64, 4}, zeros(64 * 4));
            w.addTensor("blk.0.ffn_down.weight.lora_b", GgmlType.F32, new long[] {4, 32}, zeros(4 * 32));
        });
        onlyProblem(p, "blk.0.ffn_down.weight.lora_a", "type I32: ggml's CPU backend has no matrix product for it");
    }

    @Test
    void theAdapterAloneIsCheckedWithoutABase() throws Exception {
        Path file = dir.resolve("alone.gguf");
        GgufWriter w = adapter().put("adapter.lora.alpha", GgufValue.of(Float.NaN));
        pair(w, "blk.9.attn_q.weight", new long[] {32, 4}, new long[] {4, 32});
        w.write(file);
        try (GgufFile a = GgufFile.open(file)) {
            // no base: the NaN is found, the target that no base has is not a problem yet
            List<LoraCompatibility.Problem> p = LoraCompatibility.checkAdapter(a);
            onlyProblem(p, "", "adapter.lora.alpha = NaN");
        }
    }

    @Test
    void incompletePair() throws Exception {
        var p = check(w -> w.addTensor("blk.0.attn_q.weight.lora_a", GgmlType.F32, new long[] {32, 4}, zeros(128)));
        onlyProblem(p, "blk.0.attn_q.weight", "missing blk.0.attn_q.weight.lora_b");
    }

    @Test
    void targetMissingFromBase() throws Exception {
        var p = check(w -> pair(w, "blk.7.attn_q.weight", new long[] {32, 4}, new long[] {4, 32}));
        onlyProblem(p, "blk.7.attn_q.weight", "does not exist in the base model");
    }

    @Test
    void unexpectedSuffix() throws Exception {
        var p = check(w -> {
            pair(w, "blk.0.attn_q.weight", new long[] {32, 4}, new long[] {4, 32});
            w.addTensor("blk.0.attn_q.weight.dora_m", GgmlType.F32, new long[] {32}, zeros(32));
        });
        onlyProblem(p, "blk.0.attn_q.weight.dora_m", "unexpected suffix");
    }

    @Test
    void inputWidthMismatch() throws Exception {
        var p = check(w -> pair(w, "blk.0.ffn_down.weight", new long[] {32, 4}, new long[] {4, 32}));
        onlyProblem(p, "blk.0.ffn_down.weight",
                "base ne[0]=64 must equal lora_a ne[0]=32 (base [64, 32], lora_a [32, 4], lora_b [4, 32])");
    }

    @Test
    void outputWidthMismatch() throws Exception {
        var p = check(w -> pair(w, "blk.0.attn_q.weight", new long[] {32, 4}, new long[] {4, 64}));
        onlyProblem(p, "blk.0.attn_q.weight", "base ne[1]=32 must equal lora_b ne[1]=64");
    }

    @Test
    void transposedLoraA() throws Exception {
        var p = check(w -> pair(w, "blk.0.attn_q.weight", new long[] {32, 4}, new long[] {8, 32}));
        onlyProblem(p, "blk.0.attn_q.weight", "lora_a ne[1]=4 must equal lora_b ne[0]=8 (the rank; is lora_a transposed?)");
    }

    @Test
    void tokenEmbeddingUsesFlippedLayout() throws Exception {
        // The layout of other tensors ([n_embd, r] / [r, n_vocab]) is wrong for token_embd.
        var p = check(w -> pair(w, "token_embd.weight", new long[] {32, 4}, new long[] {4, 100}));
        assertEquals(3, p.size(), p.toString());
        assertTrue(p.get(0).message().contains("base ne[0]=32 must equal lora_b ne[1]=100"), p.toString());
        assertTrue(p.get(1).message().contains("base ne[1]=100 must equal lora_a ne[1]=4"), p.toString());
    }
}
