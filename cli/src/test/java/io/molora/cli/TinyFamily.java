package io.molora.cli;

import io.molora.runtime.Model;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The router tests' family: the tiny random model (seed 5) and two token-boost adapters, {@code math} raising "7" and
 * {@code code} raising "▁return", written in a directory.
 */
record TinyFamily(Path model, Path math, Path code) {
    static TinyFamily write(Path dir) throws IOException {
        Path model = NativeTestSupport.writeTinyModel(dir, 5);
        int seven;
        int ret;
        try (Model m = Model.load(model, NativeTestSupport.modelParams())) {
            seven = NativeTestSupport.tokenId(m.tokenizer(), "7");
            ret = NativeTestSupport.tokenId(m.tokenizer(), "▁return");
        }
        return new TinyFamily(model, NativeTestSupport.writeTokenBoost(dir, "math", seven),
                NativeTestSupport.writeTokenBoost(dir, "code", ret));
    }
}
