package io.molora.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;

/** Where a {@link TensorSource} writes its tensor's bytes, in order. */
public interface TensorSink {
    /** Writes all remaining bytes of {@code bytes} (little-endian data). */
    void write(ByteBuffer bytes) throws IOException;

    default void write(byte[] bytes) throws IOException {
        write(ByteBuffer.wrap(bytes));
    }
}
