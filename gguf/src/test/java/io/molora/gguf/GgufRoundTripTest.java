package io.molora.gguf;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class GgufRoundTripTest {
    @TempDir
    Path dir;

    static GgufWriter everyMetadataType() {
        return new GgufWriter()
                .put("general.architecture", "llama")
                .put("u8", GgufValue.ofUint8(200))
                .put("i8", GgufValue.ofInt8((byte) -5))
                .put("u16", GgufValue.ofUint16(65000))
                .put("i16", GgufValue.ofInt16((short) -30000))
                .put("u32", GgufValue.ofUint32(4_000_000_000L))
                .put("i32", GgufValue.ofInt32(-2_000_000_000))
                .put("u64", GgufValue.ofUint64(-1L))
                .put("i64", GgufValue.ofInt64(Long.MIN_VALUE))
                .put("f32", GgufValue.of(3.25f))
                .put("f64", GgufValue.of(-1e300))
                .put("bool", GgufValue.of(true))
                .put("string", GgufValue.of("héllo ✓ \n"))
                .put("empty.string", GgufValue.of(""))
                .put("arr.u8", GgufValue.of(new GgufArray(GgufValueType.UINT8, new byte[] {1, (byte) 255})))
                .put("arr.i16", GgufValue.of(new GgufArray(GgufValueType.INT16, new short[] {-1, 2})))
                .put("arr.u32", GgufValue.of(new GgufArray(GgufValueType.UINT32, new int[] {7, -1})))
                .put("arr.i64", GgufValue.of(new GgufArray(GgufValueType.INT64, new long[] {Long.MAX_VALUE})))
                .put("arr.f32", GgufValue.of(GgufArray.ofFloats(1.5f, -0f, Float.NaN)))
                .put("arr.f64", GgufValue.of(new GgufArray(GgufValueType.FLOAT64, new double[] {0.1, 0.2})))
                .put("arr.bool", GgufValue.of(new GgufArray(GgufValueType.BOOL, new boolean[] {true, false})))
                .put("arr.str", GgufValue.of(GgufArray.ofStrings(List.of("a", "", "ü"))))
                .put("arr.empty", GgufValue.of(new GgufArray(GgufValueType.INT32, new int[0])))
                .put("arr.nested", GgufValue.of(new GgufArray(GgufValueType.ARRAY, List.of(
                        GgufArray.ofInts(1, 2), GgufArray.ofStrings(List.of("x"))))));
    }

    static float[] ramp(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) Math.sin(i * 0.37) * (i % 7 + 1);
        }
        return v;
    }

    @Test
    void metadataAndTensorsSurviveARoundTrip() throws Exception {
        float[] values = ramp(64 * 3);
        byte[] raw = new byte[37];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = (byte) i;
        }
        GgufWriter w = everyMetadataType()
                .addTensor("f32", GgmlType.F32, new long[] {64, 3}, TensorSources.ofFloats(GgmlType.F32, 64, values))
                .addTensor("f16", GgmlType.F16, new long[] {64, 3}, TensorSources.ofFloats(GgmlType.F16, 64, values))
                .addTensor("q8", GgmlType.Q8_0, new long[] {64, 3}, TensorSources.ofFloats(GgmlType.Q8_0, 64, values))
                .addTensor("i8.raw", GgmlType.I8, new long[] {37}, TensorSources.ofBytes(raw));
        Path file = dir.resolve("all.gguf");
        w.write(file);
        assertEquals(w.plannedSize(), Files.size(file));

        Map<String, GgufValue> expected = everyMetadataType().metadata();
        try (GgufFile g = GgufFile.open(file)) {
            assertEquals(3, g.version());
            assertEquals(32, g.alignment());
            assertEquals(List.copyOf(expected.keySet()), List.copyOf(g.metadata().keySet()));
            assertEquals(expected, g.metadata());
            assertEquals(List.of("f32", "f16", "q8", "i8.raw"), g.tensors().stream().map(GgufTensorInfo::name).toList());
            GgufTensorInfo f32 = g.tensor("f32").orElseThrow();
            assertArrayEquals(new long[] {64, 3}, f32.shape());
            assertEquals(64 * 3 * 4, f32.byteSize());
            assertEquals(64 * 3 * 2, g.tensor("f16").orElseThrow().byteSize());
            assertEquals(6 * 34, g.tensor("q8").orElseThrow().byteSize());
            for (GgufTensorInfo t : g.tensors()) {
                assertEquals(0, (g.dataOffset() + t.offset()) % 32, t.name() + " aligned");
            }
            MemorySegment f32data = g.tensorData("f32");
            for (int i = 0; i < values.length; i++) {
                assertEquals(values[i], TensorEncoding.decode(GgmlType.F32, f32data, i));
                assertEquals(Float.float16ToFloat(Float.floatToFloat16(values[i])),
                        TensorEncoding.decode(GgmlType.F16, g.tensorData("f16"), i));
                float q = TensorEncoding.decode(GgmlType.Q8_0, g.tensorData("q8"), i);
                assertEquals(values[i], q, 7f / 127 * 0.51 + 0.01, "q8 element " + i);
            }
            assertArrayEquals(raw, g.tensorData("i8.raw").toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void tensorDataIsAViewOfTheMappingNotACopy() throws Exception {
        Path file = dir.resolve("view.gguf");
        new GgufWriter().addTensor("t", GgmlType.F32, new long[] {4}, TensorSources.ofFloats(GgmlType.F32, 4, ramp(4)))
                .write(file);
        try (GgufFile g = GgufFile.open(file)) {
            MemorySegment data = g.tensorData("t");
            assertTrue(data.isMapped(), "a slice of the file mapping");
        }
    }

    @Test
    void honoursGeneralAlignment() throws Exception {
        Path file = dir.resolve("aligned.gguf");
        new GgufWriter().put("general.alignment", GgufValue.ofUint32(256))
                .addTensor("a", GgmlType.F32, new long[] {3}, TensorSources.ofFloats(GgmlType.F32, 3, ramp(3)))
                .addTensor("b", GgmlType.F32, new long[] {5}, TensorSources.ofFloats(GgmlType.F32, 5, ramp(5)))
                .write(file);
        try (GgufFile g = GgufFile.open(file)) {
            assertEquals(256, g.alignment());
            assertEquals(0, g.dataOffset() % 256);
            assertEquals(256, g.tensor("b").orElseThrow().offset());
            assertEquals(g.dataOffset() + 512, g.fileSize());
        }
    }

    @Test
    void readsVersion2() throws Exception {
        Path file = dir.resolve("v2.gguf");
        everyMetadataType().addTensor("t", GgmlType.F32, new long[] {2}, TensorSources.ofFloats(GgmlType.F32, 2, ramp(2)))
                .write(file);
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 2);
        Files.write(file, bytes);
        try (GgufFile g = GgufFile.open(file)) {
            assertEquals(2, g.version());
            assertEquals(GgufValue.ofUint8(200), g.get("u8").orElseThrow());
        }
    }

    @Test
    void closeIsIdempotentAndUseAfterCloseFails() throws Exception {
        Path file = dir.resolve("close.gguf");
        everyMetadataType().addTensor("t", GgmlType.F32, new long[] {2}, TensorSources.ofFloats(GgmlType.F32, 2, ramp(2)))
                .write(file);
        GgufFile g = GgufFile.open(file);
        MemorySegment data = g.tensorData("t");
        g.close();
        g.close();
        assertThrows(IllegalStateException.class, g::metadata);
        assertThrows(IllegalStateException.class, g::tensors);
        assertThrows(IllegalStateException.class, () -> g.tensorData("t"));
        assertThrows(IllegalStateException.class, () -> data.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void typedAccessorsReadModelFacts() throws Exception {
        Path file = dir.resolve("model.gguf");
        new GgufWriter().put("general.architecture", "llama")
                .put("llama.context_length", GgufValue.ofUint32(4096))
                .put("llama.embedding_length", GgufValue.ofUint32(64))
                .put("llama.block_count", GgufValue.ofUint32(2))
                .put("llama.vocab_size", GgufValue.ofUint32(99))
                .put("general.file_type", GgufValue.ofUint32(7))
                .put("tokenizer.chat_template", "{{x}}")
                .addTensor("a", GgmlType.Q8_0, new long[] {64, 2}, TensorSources.ofFloats(GgmlType.Q8_0, 64, ramp(128)))
                .addTensor("b", GgmlType.F32, new long[] {64}, TensorSources.ofFloats(GgmlType.F32, 64, ramp(64)))
                .addTensor("c", GgmlType.F32, new long[] {8}, TensorSources.ofFloats(GgmlType.F32, 8, ramp(8)))
                .write(file);
        try (GgufFile g = GgufFile.open(file)) {
            ModelInfo m = ModelInfo.of(g);
            assertEquals("llama", m.architecture());
            assertEquals(4096, m.contextLength());
            assertEquals(64, m.embeddingLength());
            assertEquals(2, m.blockCount());
            assertEquals(99, m.vocabSize(), "no token list: falls back to llama.vocab_size");
            assertEquals("{{x}}", m.chatTemplate().orElseThrow());
            assertEquals(7, m.fileType());
            assertEquals(128 + 64 + 8, m.parameterCount());
            assertEquals(new TypeUsage(1, 4 * 34, 128), m.quantizationMix().get(GgmlType.Q8_0));
            assertEquals(new TypeUsage(2, 72 * 4, 72), m.quantizationMix().get(GgmlType.F32));
        }
    }

    @Test
    void openingABrokenFileThrowsFormatExceptionWithOffset() throws Exception {
        Path file = dir.resolve("broken.gguf");
        Files.write(file, "GGUF\3\0\0\0".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.open(file));
        assertEquals(8, e.offset());
        assertTrue(e.getMessage().startsWith("at byte offset 8: truncated file"), e.getMessage());
    }

    @Test
    void writerRejectsSourcesThatWriteTheWrongSize() {
        GgufWriter w = new GgufWriter().addTensor("t", GgmlType.F32, new long[] {4}, TensorSources.ofBytes(new byte[3]));
        Path file = dir.resolve("bad.gguf");
        var e = assertThrows(java.io.IOException.class, () -> w.write(file));
        assertTrue(e.getMessage().contains("'t'"), e.getMessage());
        assertFalse(Files.exists(file), "no truncated file left behind");
    }
}
