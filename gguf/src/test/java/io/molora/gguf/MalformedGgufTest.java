package io.molora.gguf;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** Each kind of broken input yields one GgufFormatException naming the byte offset. */
class MalformedGgufTest {
    @org.junit.jupiter.api.io.TempDir
    java.nio.file.Path dir;

    private static GgufFormatException rejects(byte[] bytes, long offset, String fragment) {
        GgufFormatException e = assertThrows(GgufFormatException.class,
                () -> GgufFile.parse(MemorySegment.ofArray(bytes), "test"));
        assertEquals(offset, e.offset(), e.getMessage());
        assertTrue(e.getMessage().startsWith("at byte offset " + offset + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), "'" + fragment + "' in: " + e.getMessage());
        return e;
    }

    /** Header + one UINT32 kv "k" = 1 + one F32 tensor "t" [4] at offset 0, data padded. */
    private static RawGguf validPrefix() {
        return RawGguf.header(3, 1, 1).str("k").u32(4).u32(1).tensor("t", new long[] {4}, 0, 0);
    }

    @Test
    void validPrefixIsValid() throws Exception {
        byte[] ok = validPrefix().pad(32).zeros(16).build();
        assertEquals(1, GgufFile.parse(MemorySegment.ofArray(ok), "ok").tensors().size());
    }

    @Test
    void emptyFile() {
        rejects(new byte[0], 0, "truncated");
    }

    @Test
    void badMagic() {
        rejects("GGML\3\0\0\0".getBytes(), 0, "bad magic");
    }

    @Test
    void versionOne() {
        rejects(RawGguf.header(1, 0, 0).build(), 4, "version 1");
    }

    @Test
    void unsupportedVersion() {
        rejects(RawGguf.header(4, 0, 0).build(), 4, "unsupported GGUF version 4");
        rejects(RawGguf.header(3 << 24, 0, 0).build(), 4, "big-endian");
    }

    @Test
    void truncatedHeader() {
        byte[] full = RawGguf.header(3, 0, 0).build();
        rejects(Arrays.copyOf(full, 10), 8, "truncated");
    }

    @Test
    void tensorCountThatCannotFit() {
        rejects(RawGguf.header(3, Long.MAX_VALUE, 0).build(), 8, "tensor count");
        rejects(RawGguf.header(3, -1, 0).build(), 8, "tensor count");
    }

    @Test
    void kvCountThatCannotFit() {
        rejects(RawGguf.header(3, 0, 1_000_000).build(), 16, "metadata count");
    }

    @Test
    void stringLongerThanTheFile() {
        rejects(RawGguf.header(3, 0, 1).u64(1L << 40).zeros(16).build(), 24, "length");
        rejects(RawGguf.header(3, 0, 1).u64(100).bytes("abc".getBytes()).zeros(10).build(), 32, "truncated");
    }

    @Test
    void arrayLengthThatCannotFit() {
        // key "a", type ARRAY, element UINT32, count 2^40
        byte[] b = RawGguf.header(3, 0, 1).str("a").u32(9).u32(4).u64(1L << 40).zeros(8).build();
        rejects(b, 41, "cannot fit");
    }

    @Test
    void stringArrayCountIsBoundedByMinimumStringSize() {
        // 100 strings need at least 800 bytes; only 50 remain
        byte[] b = RawGguf.header(3, 0, 1).str("a").u32(9).u32(8).u64(100).zeros(50).build();
        rejects(b, 41, "cannot fit");
    }

    @Test
    void duplicateKey() {
        byte[] b = RawGguf.header(3, 0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).build();
        rejects(b, 41, "duplicate metadata key 'k'");
    }

    @Test
    void emptyKey() {
        rejects(RawGguf.header(3, 0, 1).str("").u32(4).u32(1).build(), 24, "empty key");
    }

    @Test
    void unknownValueType() {
        rejects(RawGguf.header(3, 0, 1).str("k").u32(13).u32(1).build(), 33, "unknown value type 13");
    }

    @Test
    void invalidBool() {
        rejects(RawGguf.header(3, 0, 1).str("k").u32(7).u8(2).build(), 37, "bool");
    }

    @Test
    void nestingTooDeep() {
        RawGguf r = RawGguf.header(3, 0, 1).str("k").u32(9);
        for (int i = 0; i < 20; i++) {
            r.u32(9).u64(1);
        }
        r.u32(4).u64(0).zeros(64);
        rejects(r.build(), 37 + 12 * 8, "nested deeper");
    }

    @Test
    void alignmentNotPowerOfTwo() {
        byte[] b = RawGguf.header(3, 0, 1).str("general.alignment").u32(4).u32(48).build();
        rejects(b, 24, "not a power of two");
    }

    @Test
    void alignmentOfWrongType() {
        byte[] b = RawGguf.header(3, 0, 1).str("general.alignment").u32(5).u32(32).build();
        rejects(b, 24, "must be UINT32");
    }

    @Test
    void duplicateTensorName() {
        byte[] b = RawGguf.header(3, 2, 0).tensor("t", new long[] {4}, 0, 0).tensor("t", new long[] {4}, 0, 32)
                .pad(32).zeros(64).build();
        rejects(b, 24 + 33, "duplicate tensor name 't'");
    }

    @Test
    void tooManyDimensions() {
        byte[] b = RawGguf.header(3, 1, 0).tensor("t", new long[] {1, 1, 1, 1, 1}, 0, 0).pad(32).zeros(64).build();
        rejects(b, 33, "5 dimensions");
    }

    @Test
    void zeroAndNegativeDimensions() {
        rejects(RawGguf.header(3, 1, 0).tensor("t", new long[] {4, 0}, 0, 0).pad(32).zeros(64).build(), 45, "dimension 1 is 0");
        rejects(RawGguf.header(3, 1, 0).tensor("t", new long[] {-4}, 0, 0).pad(32).zeros(64).build(), 37, "dimension 0 is -4");
    }

    @Test
    void elementCountOverflow() {
        byte[] b = RawGguf.header(3, 1, 0).tensor("t", new long[] {1L << 32, 1L << 32}, 0, 0).pad(32).zeros(64).build();
        rejects(b, 45, "overflows");
    }

    @Test
    void byteSizeOverflow() {
        byte[] b = RawGguf.header(3, 1, 0).tensor("t", new long[] {1L << 62}, 0, 0).pad(32).zeros(64).build();
        rejects(b, 45, "byte size overflows");
    }

    @Test
    void unknownGgmlType() {
        rejects(RawGguf.header(3, 1, 0).tensor("t", new long[] {4}, 4, 0).pad(32).zeros(64).build(), 45, "unknown ggml type 4");
        rejects(RawGguf.header(3, 1, 0).tensor("t", new long[] {4}, 43, 0).pad(32).zeros(64).build(), 45, "unknown ggml type 43");
    }

    @Test
    void rowNotMultipleOfBlockSize() {
        rejects(RawGguf.header(3, 1, 0).tensor("t", new long[] {33}, 8, 0).pad(32).zeros(64).build(), 45, "block size 32");
    }

    @Test
    void misalignedTensorData() {
        rejects(RawGguf.header(3, 1, 0).tensor("t", new long[] {4}, 0, 8).pad(32).zeros(64).build(), 49, "alignment 32");
    }

    @Test
    void tensorDataBeyondEndOfFile() {
        rejects(RawGguf.header(3, 1, 0).tensor("t", new long[] {4}, 0, 64).pad(32).zeros(64).build(), 24, "beyond the end");
        rejects(RawGguf.header(3, 1, 0).tensor("t", new long[] {4}, 0, 0).pad(32).zeros(15).build(), 24, "beyond the end");
    }

    @Test
    void overlappingTensors() {
        byte[] b = RawGguf.header(3, 2, 0).tensor("a", new long[] {16}, 0, 0).tensor("b", new long[] {4}, 0, 32)
                .pad(32).zeros(128).build();
        rejects(b, 57, "overlaps tensor 'a'");
    }

    @Test
    void tensorNameTooLong() {
        rejects(RawGguf.header(3, 1, 0).tensor("x".repeat(64), new long[] {4}, 0, 0).pad(32).zeros(64).build(), 24, "longer than 63");
    }

    @Test
    void truncatedInsideTensorInfos() {
        byte[] full = validPrefix().pad(32).zeros(16).build();
        GgufFormatException e = assertThrows(GgufFormatException.class,
                () -> GgufFile.parse(MemorySegment.ofArray(Arrays.copyOf(full, 60)), "cut"));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void everyTruncationOfAValidFileIsAFormatException() throws Exception {
        java.nio.file.Path file = dir.resolve("full.gguf");
        GgufRoundTripTest.everyMetadataType()
                .addTensor("t", GgmlType.F32, new long[] {4}, TensorSources.ofFloats(GgmlType.F32, 4, new float[4]))
                .write(file);
        byte[] full = java.nio.file.Files.readAllBytes(file);
        GgufFile.parse(MemorySegment.ofArray(full), "full");
        // The last 16 bytes are padding after the 16-byte tensor; anything shorter cuts real content.
        for (int n = 0; n < full.length - 16; n++) {
            byte[] cut = Arrays.copyOf(full, n);
            assertThrows(GgufFormatException.class, () -> GgufFile.parse(MemorySegment.ofArray(cut), "cut"),
                    "prefix of " + n + " bytes");
        }
    }
}
