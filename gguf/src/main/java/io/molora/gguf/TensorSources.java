package io.molora.gguf;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/** Ready-made {@link TensorSource}s. */
public final class TensorSources {
    private static final int CHUNK = 1 << 20;

    private TensorSources() {}

    public static TensorSource ofBytes(byte[] bytes) {
        byte[] copy = bytes.clone();
        return sink -> sink.write(ByteBuffer.wrap(copy));
    }

    /** Copies a segment (e.g. another file's tensor data) in chunks. */
    public static TensorSource ofSegment(MemorySegment segment) {
        return sink -> {
            for (long at = 0; at < segment.byteSize(); at += CHUNK) {
                long n = Math.min(CHUNK, segment.byteSize() - at);
                sink.write(segment.asSlice(at, n).asByteBuffer());
            }
        };
    }

    /**
     * Generates {@code rows} rows of {@code rowLength} floats one at a time and encodes each
     * into {@code type} (F32, F16 or Q8_0), so memory use is one row regardless of size.
     */
    public static TensorSource ofRows(GgmlType type, int rowLength, long rows, RowGenerator generator) {
        if (!TensorEncoding.canEncode(type)) {
            throw new IllegalArgumentException("cannot encode " + type + "; use F32, F16 or Q8_0");
        }
        return sink -> {
            float[] row = new float[rowLength];
            int rowBytes = (int) type.byteSize(rowLength);
            int rowsPerChunk = Math.max(1, CHUNK / Math.max(1, rowBytes));
            ByteBuffer buffer = ByteBuffer.allocate(rowsPerChunk * rowBytes);
            for (long r = 0; r < rows; r++) {
                generator.fill(r, row);
                TensorEncoding.encode(type, row, rowLength, buffer);
                if (!buffer.hasRemaining()) {
                    buffer.flip();
                    sink.write(buffer);
                    buffer.clear();
                }
            }
            buffer.flip();
            sink.write(buffer);
        };
    }

    /** A whole tensor given as floats (small tensors, tests). */
    public static TensorSource ofFloats(GgmlType type, int rowLength, float[] values) {
        if (values.length % rowLength != 0) {
            throw new IllegalArgumentException(values.length + " values are not whole rows of " + rowLength);
        }
        float[] copy = values.clone();
        return ofRows(type, rowLength, copy.length / rowLength,
                (r, row) -> System.arraycopy(copy, (int) (r * rowLength), row, 0, rowLength));
    }
}
