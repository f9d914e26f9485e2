package io.molora.gguf.synth;

import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.GgufValue;
import io.molora.gguf.GgufValueType;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code tokenizer.*} metadata of a real vocabulary, e.g. llama.cpp's
 * models/ggml-vocab-llama-spm.gguf (32000 SentencePiece tokens). Vocab GGUF files hold only
 * metadata, which is exactly what a synthetic model needs to tokenize like a real one.
 */
public record TokenizerMetadata(Map<String, GgufValue> entries) {

    /** Path of the llama SPM vocabulary inside a llama.cpp source tree. */
    public static Path llamaSpmVocab(Path llamaCppSource) {
        return llamaCppSource.resolve("models").resolve("ggml-vocab-llama-spm.gguf");
    }

    public TokenizerMetadata {
        entries = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(entries));
        GgufValue tokens = entries.get("tokenizer.ggml.tokens");
        if (tokens == null || tokens.type() != GgufValueType.ARRAY
                || tokens.asArray().elementType() != GgufValueType.STRING) {
            throw new IllegalArgumentException("tokenizer metadata needs a string array tokenizer.ggml.tokens");
        }
    }

    /** Copies every tokenizer.* key from a GGUF file. */
    public static TokenizerMetadata load(Path vocabGguf) throws IOException {
        try (GgufFile file = GgufFile.open(vocabGguf)) {
            Map<String, GgufValue> copy = new LinkedHashMap<>();
            file.metadata().forEach((k, v) -> {
                if (k.startsWith("tokenizer.")) {
                    copy.put(k, v);
                }
            });
            if (!copy.containsKey("tokenizer.ggml.tokens")) {
                throw new GgufFormatException(-1, vocabGguf + " has no tokenizer.ggml.tokens");
            }
            return new TokenizerMetadata(copy);
        }
    }

    public int vocabSize() {
        return entries.get("tokenizer.ggml.tokens").asArray().size();
    }

    public String token(int id) {
        return entries.get("tokenizer.ggml.tokens").asArray().strings().get(id);
    }
}
