package io.molora.gguf;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The Java reader and writer agree with llama.cpp's own gguf-py, byte for byte. */
class GgufPyCrossCheckTest {
    @TempDir
    Path dir;

    @Test
    void javaReadsWhatGgufPyWrites() throws Exception {
        GgufPy py = GgufPy.require();
        Path file = dir.resolve("py.gguf");
        py.script("gguf_make.py", file.toString());
        List<String> expected = py.dump(file);
        try (GgufFile g = GgufFile.open(file)) {
            assertEquals(expected, CanonicalDump.of(g));
            assertEquals(25, g.metadata().size());
        }
    }

    @Test
    void f16AndQ8_0EncodingMatchGgufPyBitForBit() throws Exception {
        GgufPy py = GgufPy.require();
        Path file = dir.resolve("py.gguf");
        py.script("gguf_make.py", file.toString());
        try (GgufFile g = GgufFile.open(file)) {
            MemorySegment source = g.tensorData("source");
            float[] values = source.toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN));
            assertArrayEquals(g.tensorData("q8_0").toArray(ValueLayout.JAVA_BYTE), encode(GgmlType.Q8_0, values),
                    "Q8_0 like gguf.quants / quantize_row_q8_0_ref");
            assertArrayEquals(g.tensorData("f16").toArray(ValueLayout.JAVA_BYTE), encode(GgmlType.F16, values),
                    "F16 like numpy astype(float16)");
        }
    }

    private static byte[] encode(GgmlType type, float[] values) {
        ByteBuffer out = ByteBuffer.allocate((int) type.byteSize(values.length));
        TensorEncoding.encode(type, values, values.length, out);
        return out.array();
    }

    @Test
    void ggufPyReadsWhatJavaWrites() throws Exception {
        GgufPy py = GgufPy.require();
        Path file = dir.resolve("java.gguf");
        float[] values = GgufRoundTripTest.ramp(64 * 3);
        GgufWriter w = new GgufWriter();
        // gguf-py's reader cannot represent nested arrays and reports an empty array's element
        // type as ARRAY (it takes the last type it saw), so the cross-check leaves both out.
        GgufRoundTripTest.everyMetadataType().metadata().forEach((k, v) -> {
            if (!k.equals("arr.nested") && !k.equals("arr.empty")) {
                w.put(k, v);
            }
        });
        w.addTensor("f32", GgmlType.F32, new long[] {64, 3}, TensorSources.ofFloats(GgmlType.F32, 64, values))
                .addTensor("f16", GgmlType.F16, new long[] {64, 3}, TensorSources.ofFloats(GgmlType.F16, 64, values))
                .addTensor("q8", GgmlType.Q8_0, new long[] {64, 3}, TensorSources.ofFloats(GgmlType.Q8_0, 64, values))
                .addTensor("vec", GgmlType.F32, new long[] {7}, TensorSources.ofFloats(GgmlType.F32, 7, GgufRoundTripTest.ramp(7)))
                .write(file);
        List<String> fromPython = py.dump(file);
        try (GgufFile g = GgufFile.open(file)) {
            assertEquals(CanonicalDump.of(g), fromPython);
        }
        assertTrue(fromPython.contains("kv u64 UINT64:18446744073709551615"), String.join("\n", fromPython));
    }
}
