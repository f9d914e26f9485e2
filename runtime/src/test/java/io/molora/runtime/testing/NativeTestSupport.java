package io.molora.runtime.testing;

import io.molora.gguf.GgmlType;
import io.molora.gguf.synth.LlamaConfig;
import io.molora.gguf.synth.LoraSpec;
import io.molora.gguf.synth.SyntheticLora;
import io.molora.gguf.synth.SyntheticModel;
import io.molora.gguf.synth.TokenizerMetadata;
import io.molora.runtime.Backend;
import io.molora.runtime.ModelParams;
import io.molora.runtime.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Where the native build is, and tiny random-weight models for tests. The build directory comes from
 * {@code -Dmolora.native.dir} (./run-tests sets it); without it the native tests fail with a message saying so.
 */
public final class NativeTestSupport {
    private NativeTestSupport() {}

    public static Path nativeDir() {
        String dir = System.getProperty("molora.native.dir");
        if (dir == null || dir.isBlank() || dir.startsWith("${")) {
            throw new IllegalStateException("molora.native.dir is not set: run the tests with ./run-tests, which builds "
                    + "llama.cpp and passes its directory");
        }
        return Path.of(dir);
    }

    /**
     * How the native tests load models: on the CPU unless {@code -Dmolora.test.gpuLayers=N} (-1 = all) asks for
     * offload, so the same tests check a CUDA build on a GPU machine.
     */
    public static ModelParams modelParams() {
        return ModelParams.defaults().withGpuLayers(gpuLayers());
    }

    /**
     * The layers {@link #modelParams} offloads, also the {@code -ngl} for llama.cpp's own programs run beside the tests
     * (negative = all layers, as in {@code llama_model_params}).
     */
    public static int gpuLayers() {
        String v = System.getProperty("molora.test.gpuLayers", "0");
        if (v.isBlank() || v.startsWith("${")) {
            return 0;
        }
        return Integer.parseInt(v.trim());
    }

    /** The token whose vocabulary entry is exactly {@code text} (e.g. "▁return"); fails the test if there is none. */
    public static int tokenId(Tokenizer tokenizer, String text) {
        for (int t = 0; t < tokenizer.vocabSize(); t++) {
            if (tokenizer.tokenText(t).equals(text)) {
                return t;
            }
        }
        throw new AssertionError("no token '" + text + "' in the vocabulary");
    }

    /** The patched llama.cpp source tree of the native build (vocab GGUFs, gguf-py, examples). */
    public static Path llamaSource() {
        return nativeDir().resolve("src");
    }

    public static Path vocab(String name) {
        return llamaSource().resolve("models").resolve("ggml-vocab-" + name + ".gguf");
    }

    /** Writes a tiny seeded random-weight llama model with the real llama-spm tokenizer. */
    public static Path writeTinyModel(Path dir, long seed) throws IOException {
        TokenizerMetadata tokenizer = TokenizerMetadata.load(vocab("llama-spm"));
        SyntheticModel model = SyntheticModel.of(LlamaConfig.tiny(tokenizer.vocabSize()), tokenizer, seed);
        Path path = dir.resolve("tiny-" + seed + ".gguf");
        if (!Files.exists(path)) {
            model.write(path);
        }
        return path;
    }

    /** The config of {@link #writeTinyModel} models. */
    public static LlamaConfig tinyConfig() throws IOException {
        return LlamaConfig.tiny(TokenizerMetadata.load(vocab("llama-spm")).vocabSize());
    }

    /**
     * Writes {@code dir/<name>.gguf}: an adapter for the tiny model that raises only {@code token}'s logit, far above
     * every other ({@link SyntheticLora#tokenBoost}, boost 100), so a test can see which adapter produced a token.
     */
    public static Path writeTokenBoost(Path dir, String name, int token) throws IOException {
        Path path = dir.resolve(name + ".gguf");
        SyntheticLora.tokenBoost(tinyConfig(), name, Set.of(token), 100f, GgmlType.F32).write(path);
        return path;
    }

    /** Writes a seeded random LoRA for the tiny model. */
    public static Path writeLora(Path dir, LoraSpec spec) throws IOException {
        Path path = dir.resolve("lora-" + spec.name() + ".gguf");
        SyntheticLora.random(tinyConfig(), spec).write(path);
        return path;
    }

    /** Runs {@code work} with llama.cpp's log at INFO and returns the lines it logged meanwhile. */
    public static List<String> llamaLog(Runnable work) {
        List<String> lines = new ArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                lines.add(record.getMessage());
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        Logger log = Logger.getLogger("llama.cpp");
        Level before = log.getLevel();
        log.setLevel(Level.INFO);
        log.addHandler(capture);
        Backend.setLogLevel(Level.INFO);
        try {
            work.run();
        } finally {
            Backend.setLogLevel(Level.SEVERE);
            log.removeHandler(capture);
            log.setLevel(before);
        }
        return lines;
    }
}
