package io.molora.gguf;

import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;

/**
 * The facts about a model file molora needs, read from well-known GGUF keys.
 * Missing optional keys read as empty / -1.
 *
 * @param vocabSize length of tokenizer.ggml.tokens, else {@code <arch>.vocab_size}, else -1
 * @param fileType  general.file_type (llama_ftype), -1 when absent
 */
public record ModelInfo(String architecture, String name, long contextLength, long embeddingLength,
                        long blockCount, long vocabSize, Optional<String> chatTemplate, long fileType,
                        long parameterCount, Map<GgmlType, TypeUsage> quantizationMix) {

    public ModelInfo {
        quantizationMix = Map.copyOf(quantizationMix);
    }

    public static ModelInfo of(GgufFile file) throws GgufFormatException {
        String arch = file.string("general.architecture").orElseThrow(
                () -> new GgufFormatException(-1, "metadata has no general.architecture"));
        long vocab = file.get("tokenizer.ggml.tokens")
                .filter(v -> v.type() == GgufValueType.ARRAY)
                .map(v -> (long) v.asArray().size())
                .orElse(file.integer(arch + ".vocab_size").orElse(-1L));
        Map<GgmlType, TypeUsage> mix = new EnumMap<>(GgmlType.class);
        long params = 0;
        for (GgufTensorInfo t : file.tensors()) {
            mix.merge(t.type(), new TypeUsage(0, 0, 0).plus(t), (a, b) -> a.plus(t));
            params += t.elementCount();
        }
        return new ModelInfo(arch,
                file.string("general.name").orElse(""),
                file.integer(arch + ".context_length").orElse(-1L),
                file.integer(arch + ".embedding_length").orElse(-1L),
                file.integer(arch + ".block_count").orElse(-1L),
                vocab,
                file.string("tokenizer.chat_template"),
                file.integer("general.file_type").orElse(-1L),
                params, mix);
    }
}
