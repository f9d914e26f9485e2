package io.molora.gguf;

import java.io.IOException;

/**
 * Produces one tensor's bytes when the writer reaches it, so that a multi-gigabyte model
 * never has to be held in memory. Must write exactly the tensor's byte size.
 */
@FunctionalInterface
public interface TensorSource {
    void writeTo(TensorSink sink) throws IOException;
}
