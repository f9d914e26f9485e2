package io.molora.runtime;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The element type of the KV cache (llama.cpp's {@code -ctk} / {@code -ctv}), with the ggml type id llama.cpp takes and
 * the storage size: {@code blockBytes} bytes hold {@code blockSize} values.
 */
public enum KvCacheType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    BF16(30, 1, 2),
    Q8_0(8, 32, 34),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    IQ4_NL(20, 32, 18),
    Q5_0(6, 32, 22),
    Q5_1(7, 32, 24);

    /** {@code enum ggml_type} */
    final int ggmlType;
    private final int blockSize;
    private final int blockBytes;

    KvCacheType(int ggmlType, int blockSize, int blockBytes) {
        this.ggmlType = ggmlType;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    /** Quantized types store blocks of 32 values; llama.cpp needs flash attention for a quantized V cache. */
    public boolean quantized() {
        return blockSize > 1;
    }

    /** Values per stored block: 1, or 32 for the quantized types. */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes for {@code n} values (n a multiple of the block size, as cache rows are). */
    public long bytes(long n) {
        return (n + blockSize - 1) / blockSize * blockBytes;
    }

    /** Parses llama.cpp's spelling ({@code f16}, {@code q8_0}, ...), case-insensitively. */
    public static KvCacheType parse(String s) {
        try {
            return valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + s + "' is not a KV cache type (one of " + names() + ")");
        }
    }

    /** The accepted spellings, for messages and help. */
    public static String names() {
        return Arrays.stream(values()).map(KvCacheType::toString).collect(Collectors.joining(", "));
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
