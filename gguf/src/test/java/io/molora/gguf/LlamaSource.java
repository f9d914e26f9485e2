package io.molora.gguf;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/** The llama.cpp source tree the build points at through -Dmolora.llama.src. */
public final class LlamaSource {
    private LlamaSource() {}

    /** The source root; skips the calling test when the property is unset or the tree is missing. */
    public static Path require() {
        String dir = System.getProperty("molora.llama.src", "");
        Assumptions.assumeTrue(!dir.isBlank() && !dir.startsWith("${"),
                "system property molora.llama.src is not set (export MOLORA_LLAMA_SRC=<llama.cpp source>)");
        Path root = Path.of(dir);
        Assumptions.assumeTrue(Files.isRegularFile(root.resolve("ggml/include/gguf.h")),
                "molora.llama.src=" + dir + " is not a llama.cpp source tree");
        return root;
    }
}
