package io.molora.adapters.peft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.gguf.GgufArray;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufValueType;
import io.molora.gguf.GgufWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What cannot be converted is refused before anything is written, in one line naming the file (or tensor) and what to
 * do: each refused adapter_config.json setting, tensors llama.cpp cannot hold, shapes that do not fit the base,
 * missing and broken files; and what is accepted is converted as llama.cpp needs it (rslora's alpha).
 */
class PeftRefusalTest {
    @TempDir
    Path tmp;

    /** Converts {@code dir} for the {@code baseArch} fixture's base and returns the one-line refusal. */
    static String refusal(Path dir, String baseArch, Path out) throws IOException {
        try (GgufFile base = GgufFile.open(PeftOracleTest.fixture(baseArch).resolve("base.gguf"))) {
            PeftException e = assertThrows(PeftException.class, () -> {
                PeftAdapter a = PeftAdapter.read(dir, base);
                a.write(out);
                a.checkFits(base, out);
            });
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
            return e.getMessage();
        }
    }

    private int edits;

    private String configRefusal(Consumer<ObjectNode> edit) throws IOException {
        Path dir = PeftFixtures.withConfig("llama", tmp.resolve("edited-" + ++edits), edit);
        String m = refusal(dir, "llama", tmp.resolve("out.gguf"));
        assertTrue(m.startsWith(dir.resolve(PeftConfig.FILE).toString() + ": "), "names the file: " + m);
        assertFalse(Files.exists(tmp.resolve("out.gguf")), "nothing written");
        return m;
    }

    @Test
    void doraIsRefused() throws IOException {
        assertTrue(configRefusal(c -> c.put("use_dora", true)).contains("use_dora is true: llama.cpp has no DoRA"));
    }

    @Test
    void settingsLlamaCppCannotRunAreRefused() throws IOException {
        assertTrue(configRefusal(c -> c.put("fan_in_fan_out", true)).contains("fan_in_fan_out is true"));
        assertTrue(configRefusal(c -> c.put("bias", "lora_only")).contains("bias is \"lora_only\""));
        assertTrue(configRefusal(c -> c.put("lora_bias", true)).contains("lora_bias is true"));
        assertTrue(configRefusal(c -> c.putArray("modules_to_save").add("lm_head"))
                .contains("modules_to_save is set"));
        assertTrue(configRefusal(c -> c.putObject("alpha_pattern").put("q_proj", 16))
                .contains("alpha_pattern is set"));
        assertTrue(configRefusal(c -> {
            c.put("use_rslora", true);
            c.putObject("rank_pattern").put("q_proj", 8);
        }).contains("use_rslora with a rank_pattern"));
        assertTrue(configRefusal(c -> c.put("peft_type", "LOHA")).contains("peft_type is LOHA"));
        assertTrue(configRefusal(c -> c.put("lora_alpha", 0)).contains("lora_alpha is 0"));
        assertTrue(configRefusal(c -> c.remove("r")).contains("needs \"r\""));
        assertTrue(configRefusal(c -> c.put("invocation_string", "<|x|>")).contains("invocation_string"));
    }

    @Test
    void acceptedSettingsAreConvertedAsLlamaCppNeedsThem() throws IOException {
        // rslora: PEFT scales by alpha / sqrt(r), llama.cpp by alpha / r: alpha * sqrt(r) written (r = 4: 8 -> 16)
        Path rs = PeftFixtures.withConfig("llama", tmp.resolve("rs"), c -> c.put("use_rslora", true));
        assertEquals(16f, PeftConfig.read(rs.resolve(PeftConfig.FILE)).alpha());
        // a rank pattern alone and layers_to_transform: llama.cpp reads each pair's rank from its lora_b
        Path rp = PeftFixtures.withConfig("llama", tmp.resolve("rp"), c -> {
            c.putObject("rank_pattern").put("q_proj", 8);
            c.putArray("layers_to_transform").add(0).add(1);
        });
        assertEquals(8f, PeftConfig.read(rp.resolve(PeftConfig.FILE)).alpha());
        // aLoRA's invocation tokens are written as convert_lora_to_gguf.py writes them
        Path al = PeftFixtures.withConfig("llama", tmp.resolve("al"), c -> c.putArray("alora_invocation_tokens")
                .add(5).add(7));
        try (GgufFile base = GgufFile.open(PeftOracleTest.fixture("llama").resolve("base.gguf"))) {
            PeftAdapter.read(al, base).write(tmp.resolve("al.gguf"));
        }
        try (GgufFile f = GgufFile.open(tmp.resolve("al.gguf"))) {
            GgufArray tokens = f.get("adapter.alora_invocation_tokens").orElseThrow().asArray();
            assertEquals(GgufValueType.UINT32, tokens.elementType());
            assertArrayEquals(new int[] {5, 7}, (int[]) tokens.elements());
        }
    }

    @Test
    void aModuleLlamaCppHasNoTensorForIsRefused() throws IOException {
        Map<String, PeftFixtures.F32> t = new LinkedHashMap<>(PeftFixtures.tensors("llama"));
        t.put("base_model.model.model.layers.0.self_attn.rotary_proj.lora_A.weight",
                new PeftFixtures.F32(new long[] {4, 32}, new float[128]));
        Path dir = PeftFixtures.withTensors("llama", tmp.resolve("unknown"), t);
        String m = refusal(dir, "llama", tmp.resolve("out.gguf"));
        assertTrue(m.contains("module model.layers.0.self_attn.rotary_proj has no llama.cpp tensor in architecture "
                + "llama"), m);
        // phi3 has no ffn_gate (its gate is fused into ffn_up): gate_proj cannot be adapted there
        Map<String, PeftFixtures.F32> p = new LinkedHashMap<>(PeftFixtures.tensors("phi3"));
        p.put("base_model.model.model.layers.0.mlp.gate_proj.lora_A.weight",
                new PeftFixtures.F32(new long[] {4, 32}, new float[128]));
        String phi = refusal(PeftFixtures.withTensors("phi3", tmp.resolve("gate"), p), "phi3", tmp.resolve("o.gguf"));
        assertTrue(phi.contains("module model.layers.0.mlp.gate_proj has no llama.cpp tensor in architecture phi3"),
                phi);
    }

    @Test
    void tensorsALlamaCppAdapterCannotHoldAreRefused() throws IOException {
        Map<String, PeftFixtures.F32> dora = new LinkedHashMap<>(PeftFixtures.tensors("llama"));
        dora.put("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
                new PeftFixtures.F32(new long[] {32}, new float[32]));
        assertTrue(refusal(PeftFixtures.withTensors("llama", tmp.resolve("d"), dora), "llama", tmp.resolve("o"))
                .contains("DoRA magnitude vector"));
        Map<String, PeftFixtures.F32> emb = new LinkedHashMap<>(PeftFixtures.tensors("llama"));
        emb.put("base_model.model.model.embed_tokens.lora_embedding_A",
                new PeftFixtures.F32(new long[] {4, 256}, new float[1024]));
        assertTrue(refusal(PeftFixtures.withTensors("llama", tmp.resolve("e"), emb), "llama", tmp.resolve("o"))
                .contains("LoRA of the token embeddings"));
        Map<String, PeftFixtures.F32> whole = new LinkedHashMap<>(PeftFixtures.tensors("llama"));
        whole.put("base_model.model.model.embed_tokens.weight", new PeftFixtures.F32(new long[] {256, 32},
                new float[256 * 32]));
        assertTrue(refusal(PeftFixtures.withTensors("llama", tmp.resolve("w"), whole), "llama", tmp.resolve("o"))
                .contains("is not a lora_A or lora_B tensor (whole embeddings"));
        Map<String, PeftFixtures.F32> half = new LinkedHashMap<>(PeftFixtures.tensors("llama"));
        half.remove("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight");
        assertTrue(refusal(PeftFixtures.withTensors("llama", tmp.resolve("h"), half), "llama", tmp.resolve("o"))
                .contains("module model.layers.1.mlp.up_proj has no lora_B tensor"));
    }

    @Test
    void theBaseLayerAndNormsArePassedOverAsTheScriptAndLlamaCppDo() throws IOException {
        Map<String, PeftFixtures.F32> t = new LinkedHashMap<>(PeftFixtures.tensors("llama"));
        t.put("base_model.model.lm_head.base_layer.weight", new PeftFixtures.F32(new long[] {256, 32},
                new float[256 * 32]));
        t.put("base_model.model.model.layers.0.input_layernorm.weight", new PeftFixtures.F32(new long[] {32},
                new float[32]));
        Path dir = PeftFixtures.withTensors("llama", tmp.resolve("extra"), t);
        try (GgufFile base = GgufFile.open(PeftOracleTest.fixture("llama").resolve("base.gguf"))) {
            PeftAdapter a = PeftAdapter.read(dir, base);
            assertEquals(15, a.targets().size(), "7 modules x 2 layers + lm_head");
            assertFalse(a.targets().stream().anyMatch(n -> n.contains("norm")));
        }
    }

    @Test
    void aShapeThatDoesNotFitTheBaseIsRefusedNamingTheModule() throws IOException {
        Map<String, PeftFixtures.F32> t = new LinkedHashMap<>(PeftFixtures.tensors("llama"));
        t.put("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                new PeftFixtures.F32(new long[] {4, 48}, new float[4 * 48]));
        Path dir = PeftFixtures.withTensors("llama", tmp.resolve("shape"), t);
        Path out = tmp.resolve("shape.gguf");
        String m = refusal(dir, "llama", out);
        assertTrue(m.startsWith("PEFT adapter " + dir + " does not fit base model base.gguf: "
                + "model.layers.0.self_attn.q_proj (blk.0.attn_q.weight): base ne[0]=32 must equal lora_a ne[0]=48"), m);
        assertTrue(m.endsWith("was it trained for another base model?"), m);
        // lm_head on a base whose output is tied to its token embeddings (qwen2's fixture has no output.weight)
        String tied = refusal(PeftFixtures.copy("llama", tmp.resolve("lm")), "qwen2", tmp.resolve("lm.gguf"));
        assertTrue(tied.contains("lm_head is adapted, but this base ties its output to the token embeddings"), tied);
    }

    @Test
    void baseArchitecturesOutsideTheFiveAreRefused() throws IOException {
        Path gpt2 = tmp.resolve("gpt2.gguf");
        new GgufWriter().put("general.architecture", "gpt2").write(gpt2);
        try (GgufFile base = GgufFile.open(gpt2)) {
            PeftException e = assertThrows(PeftException.class,
                    () -> PeftAdapter.read(PeftOracleTest.fixture("llama").resolve("peft"), base));
            assertTrue(e.getMessage().contains("molora converts adapters for llama, qwen2, qwen3, gemma3, phi3 base "
                    + "models; this base is 'gpt2'"), e.getMessage());
        }
    }

    @Test
    void missingAndBrokenFilesAreRefusedNamingThem() throws IOException {
        Path noWeights = PeftFixtures.copy("llama", tmp.resolve("nw"));
        Files.delete(noWeights.resolve(PeftAdapter.SAFETENSORS));
        Files.writeString(noWeights.resolve("adapter_model.bin"), "pickle");
        assertTrue(refusal(noWeights, "llama", tmp.resolve("o")).contains("has no adapter_model.safetensors "
                + "(adapter_model.bin, a pickle, is not read: save with safe_serialization=True)"));
        Path noConfig = PeftFixtures.copy("llama", tmp.resolve("nc"));
        Files.delete(noConfig.resolve(PeftConfig.FILE));
        assertTrue(refusal(noConfig, "llama", tmp.resolve("o")).contains("has no adapter_config.json"));
        Path badJson = PeftFixtures.copy("llama", tmp.resolve("bj"));
        Files.writeString(badJson.resolve(PeftConfig.FILE), "{\"r\": 4,");
        assertTrue(refusal(badJson, "llama", tmp.resolve("o")).contains("adapter_config.json: not JSON"));
        // truncated weights: the tensors no longer cover the data
        Path cut = PeftFixtures.copy("llama", tmp.resolve("cut"));
        byte[] w = Files.readAllBytes(cut.resolve(PeftAdapter.SAFETENSORS));
        Files.write(cut.resolve(PeftAdapter.SAFETENSORS), java.util.Arrays.copyOf(w, w.length - 100));
        String m = refusal(cut, "llama", tmp.resolve("o"));
        assertTrue(m.contains("adapter_model.safetensors is not a valid safetensors file: the tensors cover"), m);
        // a header length beyond the file
        Files.write(cut.resolve(PeftAdapter.SAFETENSORS), new byte[] {(byte) 0xff, 0, 0, 0, 0, 0, 0, 0, '{', '}'});
        assertTrue(refusal(cut, "llama", tmp.resolve("o")).contains("header length 255 does not fit the file"));
    }

    @Test
    void aCacheEntryIsTrustedOnlyWhole() throws IOException {
        Path out = tmp.resolve("entry.gguf");
        String key;
        try (GgufFile base = GgufFile.open(PeftOracleTest.fixture("llama").resolve("base.gguf"))) {
            PeftAdapter a = PeftAdapter.read(PeftOracleTest.fixture("llama").resolve("peft"), base);
            key = a.key();
            a.write(out);
        }
        assertEquals(Optional.empty(), PeftAdapter.verify(out, key));
        assertEquals(Optional.of("written for other files"), PeftAdapter.verify(out, "0".repeat(64)));
        byte[] bytes = Files.readAllBytes(out);
        bytes[bytes.length - 5] ^= 1;  // one bit of the last tensor
        Files.write(out, bytes);
        assertEquals(Optional.of("its tensor data do not match their hash"), PeftAdapter.verify(out, key));
        Files.write(out, java.util.Arrays.copyOf(bytes, 100));
        assertTrue(PeftAdapter.verify(out, key).orElseThrow().startsWith("not a valid GGUF file"));
        assertEquals(Optional.of("missing"), PeftAdapter.verify(tmp.resolve("none.gguf"), key));
    }
}
