package io.molora.gguf;

/** How many tensors of one ggml type a file holds and how many bytes they take. */
public record TypeUsage(int tensors, long bytes, long elements) {
    TypeUsage plus(GgufTensorInfo t) {
        return new TypeUsage(tensors + 1, bytes + t.byteSize(), elements + t.elementCount());
    }
}
