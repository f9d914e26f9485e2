package io.molora.gguf;

import java.lang.foreign.MemorySegment;

/** Shared by the fuzz test and the mutation test: parse, then touch everything parsed. */
final class ReaderContract {
    private ReaderContract() {}

    static void check(byte[] input) {
        GgufFile file;
        try {
            file = GgufFile.parse(MemorySegment.ofArray(input), "fuzz");
        } catch (GgufFormatException expected) {
            return;
        }
        // A file that parses must be fully usable: every tensor slice in bounds, accessors safe.
        for (GgufTensorInfo t : file.tensors()) {
            MemorySegment data = file.tensorData(t);
            if (data.byteSize() != t.byteSize()) {
                throw new AssertionError("slice size " + data.byteSize() + " != " + t.byteSize());
            }
        }
        file.metadata().values().forEach(GgufValue::toString);
        try {
            ModelInfo.of(file);
        } catch (GgufFormatException expected) {
            // semantic problems (e.g. no general.architecture) are allowed
        }
        try {
            AdapterInfo.of(file);
        } catch (GgufFormatException expected) {
            // e.g. a non-string general.type
        }
        file.close();
    }
}
