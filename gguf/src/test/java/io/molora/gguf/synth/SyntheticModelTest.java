package io.molora.gguf.synth;

import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufTensorInfo;
import io.molora.gguf.GgufValueType;
import io.molora.gguf.LlamaSource;
import io.molora.gguf.ModelInfo;
import io.molora.gguf.TensorEncoding;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class SyntheticModelTest {
    @TempDir
    Path dir;

    static TokenizerMetadata vocab;

    @BeforeAll
    static void loadVocab() throws Exception {
        vocab = TokenizerMetadata.load(TokenizerMetadata.llamaSpmVocab(LlamaSource.require()));
    }

    static LlamaConfig tiny() {
        return LlamaConfig.tiny(vocab.vocabSize());
    }

    @Test
    void vocabularyIsTheRealLlamaSpmOne() {
        assertEquals(32000, vocab.vocabSize());
        assertEquals("<s>", vocab.token(1));
        assertEquals("llama", vocab.entries().get("tokenizer.ggml.model").asString());
    }

    @Test
    void metadataIsWhatLlamaCppNeeds() throws Exception {
        Path file = dir.resolve("tiny.gguf");
        SyntheticModel.of(tiny(), vocab, 1).write(file);
        try (GgufFile g = GgufFile.open(file)) {
            Map<String, Object> expected = new HashMap<>();
            expected.put("llama.context_length", 512L);
            expected.put("llama.embedding_length", 64L);
            expected.put("llama.block_count", 2L);
            expected.put("llama.feed_forward_length", 128L);
            expected.put("llama.attention.head_count", 4L);
            expected.put("llama.attention.head_count_kv", 2L);
            expected.put("llama.rope.dimension_count", 16L);
            expected.put("llama.vocab_size", 32000L);
            expected.put("general.file_type", 0L);
            expected.forEach((k, v) -> {
                assertEquals(GgufValueType.UINT32, g.get(k).orElseThrow(() -> new AssertionError(k)).type(), k);
                assertEquals(v, g.get(k).get().asLong(), k);
            });
            assertEquals("llama", g.get("general.architecture").orElseThrow().asString());
            assertEquals(GgufValueType.FLOAT32, g.get("llama.attention.layer_norm_rms_epsilon").orElseThrow().type());
            assertEquals(GgufValueType.FLOAT32, g.get("llama.rope.freq_base").orElseThrow().type());
            vocab.entries().forEach((k, v) -> assertEquals(v, g.get(k).orElseThrow(), k));
            ModelInfo m = ModelInfo.of(g);
            assertEquals(32000, m.vocabSize());
            assertEquals(tiny().parameterCount(), m.parameterCount());
            assertTrue(m.chatTemplate().orElseThrow().contains("<|im_start|>"));
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "F16", "Q8_0"})
    void tensorsHaveLlamaNamesShapesAndTypes(GgmlType type) throws Exception {
        LlamaConfig c = tiny().withWeightType(type);
        Path file = dir.resolve("t.gguf");
        SyntheticModel model = SyntheticModel.of(c, vocab, 7);
        model.write(file);
        assertEquals(model.expectedFileSize(), Files.size(file));
        try (GgufFile g = GgufFile.open(file)) {
            Map<String, long[]> shapes = new HashMap<>();
            shapes.put("token_embd.weight", new long[] {64, 32000});
            shapes.put("output_norm.weight", new long[] {64});
            shapes.put("output.weight", new long[] {64, 32000});
            for (int i = 0; i < 2; i++) {
                String p = "blk." + i + ".";
                shapes.put(p + "attn_norm.weight", new long[] {64});
                shapes.put(p + "attn_q.weight", new long[] {64, 64});
                shapes.put(p + "attn_k.weight", new long[] {64, 32});
                shapes.put(p + "attn_v.weight", new long[] {64, 32});
                shapes.put(p + "attn_output.weight", new long[] {64, 64});
                shapes.put(p + "ffn_norm.weight", new long[] {64});
                shapes.put(p + "ffn_gate.weight", new long[] {64, 128});
                shapes.put(p + "ffn_up.weight", new long[] {64, 128});
                shapes.put(p + "ffn_down.weight", new long[] {128, 64});
            }
            assertEquals(shapes.size(), g.tensors().size());
            for (GgufTensorInfo t : g.tensors()) {
                assertArrayEquals(shapes.get(t.name()), t.shape(), t.name());
                assertEquals(t.dimensions() == 1 ? GgmlType.F32 : type, t.type(), t.name());
            }
            assertEquals(c.fileType(), ModelInfo.of(g).fileType());
        }
    }

    @Test
    void sameSeedSameBytesOtherSeedOtherBytes() throws Exception {
        LlamaConfig c = tiny().withWeightType(GgmlType.Q8_0);
        Path a = dir.resolve("a.gguf");
        Path b = dir.resolve("b.gguf");
        Path other = dir.resolve("c.gguf");
        SyntheticModel.of(c, vocab, 42).write(a);
        SyntheticModel.of(c, vocab, 42).write(b);
        SyntheticModel.of(c, vocab, 43).write(other);
        assertEquals(-1, Files.mismatch(a, b));
        assertNotEquals(-1, Files.mismatch(a, other));
    }

    @Test
    void weightsAreVariedAndNormsAreOne() throws Exception {
        Path file = dir.resolve("w.gguf");
        SyntheticModel.of(tiny(), vocab, 3).write(file);
        try (GgufFile g = GgufFile.open(file)) {
            MemorySegment norm = g.tensorData("output_norm.weight");
            for (int i = 0; i < 64; i++) {
                assertEquals(1.0f, TensorEncoding.decode(GgmlType.F32, norm, i));
            }
            MemorySegment q = g.tensorData("blk.0.attn_q.weight");
            double sum = 0;
            double sumSq = 0;
            for (int i = 0; i < 64 * 64; i++) {
                float v = TensorEncoding.decode(GgmlType.F32, q, i);
                sum += v;
                sumSq += v * v;
            }
            double std = Math.sqrt(sumSq / 4096 - Math.pow(sum / 4096, 2));
            assertEquals(1 / Math.sqrt(64), std, 0.01, "fan-in scaled weights");
        }
    }

    @Test
    void anchorDimensionIsConstantAndNeverWritten() throws Exception {
        Path file = dir.resolve("anchor.gguf");
        SyntheticModel.of(tiny().withWeightType(GgmlType.F16), vocab, 5).write(file);
        try (GgufFile g = GgufFile.open(file)) {
            MemorySegment emb = g.tensorData("token_embd.weight");
            for (int token = 0; token < 32000; token += 997) {
                assertEquals(SyntheticModel.ANCHOR_VALUE, TensorEncoding.decode(GgmlType.F16, emb, token * 64L));
            }
            for (String w : new String[] {"blk.1.attn_output.weight", "blk.1.ffn_down.weight"}) {
                GgufTensorInfo t = g.tensor(w).orElseThrow();
                for (int i = 0; i < t.dim(0); i++) {
                    assertEquals(0f, TensorEncoding.decode(GgmlType.F16, g.tensorData(t), i), w + " row 0");
                }
            }
        }
    }

    @Test
    void benchmarkConfigIsAbout1_5BParameters() {
        LlamaConfig c = LlamaConfig.bench1_5b(32000);
        assertEquals(1_540_000_000L, c.parameterCount(), 10_000_000L);
        SyntheticModel m = SyntheticModel.of(c, vocab, 1);
        long size = m.expectedFileSize();
        assertEquals(c.parameterCount() * 2, size, 5_000_000L, "F16: two bytes per weight plus header");
        assertEquals(c.parameterCount() * 34 / 32, SyntheticModel.of(c.withWeightType(GgmlType.Q8_0), vocab, 1)
                .expectedFileSize(), 5_000_000L);
    }

    @Test
    void configValidation() {
        assertThrows(IllegalArgumentException.class, () -> new LlamaConfig("x", 10, 64, 1, 128, 5, 1, 8, 1e4f, 1e-5f, GgmlType.F32));
        assertThrows(IllegalArgumentException.class, () -> new LlamaConfig("x", 10, 64, 1, 128, 4, 3, 8, 1e4f, 1e-5f, GgmlType.F32));
        assertThrows(IllegalArgumentException.class, () -> new LlamaConfig("x", 10, 48, 1, 128, 4, 2, 8, 1e4f, 1e-5f, GgmlType.Q8_0));
        assertThrows(IllegalArgumentException.class, () -> tiny().withWeightType(GgmlType.Q4_0));
        assertThrows(IllegalArgumentException.class, () -> SyntheticModel.of(LlamaConfig.tiny(100), vocab, 1));
        assertTrue(Arrays.asList(GgmlType.values()).contains(tiny().weightType()));
    }
}
