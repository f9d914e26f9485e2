package io.molora.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.gguf.synth.LlamaConfig;
import io.molora.gguf.synth.SyntheticModel;
import io.molora.gguf.synth.TokenizerMetadata;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every ModelCheck rule on a small valid llama model (264-token SPM vocabulary, n_embd 64, 2 layers, 4 heads, 2 KV
 * heads) with one thing changed: the problem names the key and its value. Whether llama.cpp really aborts on these
 * is shown natively by the cli module's HostileModelFilesTest and the load campaign (docs/RELIABILITY.md).
 */
class ModelCheckTest {
    @TempDir
    static Path dir;
    private static Path valid;

    /** tokens: <unk> <s> </s>, the 256 byte tokens, five words. */
    static TokenizerMetadata smallSpmVocab() {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) {
            tokens.add(String.format(Locale.ROOT, "<0x%02X>", b));
        }
        tokens.addAll(List.of("\u2581a", "\u2581b", "\u2581the", "\u2581hello", "\u2581world"));
        float[] scores = new float[tokens.size()];
        int[] types = new int[tokens.size()];
        for (int i = 0; i < types.length; i++) {
            types[i] = i < 3 ? 3 : i < 259 ? 6 : 1;  // control, byte, normal
            scores[i] = -i;
        }
        Map<String, GgufValue> m = new LinkedHashMap<>();
        m.put("tokenizer.ggml.model", GgufValue.of("llama"));
        m.put("tokenizer.ggml.tokens", GgufValue.of(GgufArray.ofStrings(tokens)));
        m.put("tokenizer.ggml.scores", GgufValue.of(GgufArray.ofFloats(scores)));
        m.put("tokenizer.ggml.token_type", GgufValue.of(GgufArray.ofInts(types)));
        m.put("tokenizer.ggml.bos_token_id", GgufValue.ofUint32(1));
        m.put("tokenizer.ggml.eos_token_id", GgufValue.ofUint32(2));
        return new TokenizerMetadata(m);
    }

    @BeforeAll
    static void model() throws IOException {
        TokenizerMetadata vocab = smallSpmVocab();
        valid = dir.resolve("valid.gguf");
        SyntheticModel.of(LlamaConfig.tiny(vocab.vocabSize()), vocab, 3).write(valid);
    }

    /** {@code valid} with its metadata edited by {@code edit} (tensors unchanged). */
    static Path variant(String name, Consumer<Map<String, GgufValue>> edit) throws IOException {
        Path out = dir.resolve(name.replaceAll("[^A-Za-z0-9_.-]", "_") + ".gguf");
        try (GgufFile f = GgufFile.open(valid)) {
            Map<String, GgufValue> meta = new LinkedHashMap<>(f.metadata());
            edit.accept(meta);
            GgufWriter w = new GgufWriter().putAll(meta);
            for (GgufTensorInfo t : f.tensors()) {
                w.addTensor(t.name(), t.type(), t.shape(), TensorSources.ofSegment(f.tensorData(t)));
            }
            w.write(out);
        }
        return out;
    }

    static List<String> problems(Path file) throws IOException {
        try (GgufFile f = GgufFile.open(file)) {
            return ModelCheck.check(f).stream().map(ModelCheck.Problem::toString).toList();
        }
    }

    @Test
    void aValidModelHasNoProblems() throws IOException {
        assertEquals(List.of(), problems(valid));
    }

    @Test
    void llamaCppsOwnVocabulariesPass() throws IOException {
        Path src = LlamaSource.require();
        for (String vocab : List.of("llama-spm", "gpt-2", "llama-bpe")) {
            TokenizerMetadata t = TokenizerMetadata.load(src.resolve("models").resolve("ggml-vocab-" + vocab + ".gguf"));
            LlamaConfig c = new LlamaConfig("v", t.vocabSize(), 32, 1, 32, 2, 1, 64, 10000f, 1e-5f, GgmlType.F16);
            Path p = dir.resolve(vocab + ".gguf");
            SyntheticModel.of(c, t, 1).write(p);
            assertEquals(List.of(), problems(p), vocab);
        }
    }

    @Test
    void llamaCppsVocabularyFilesPassAVocabularyOnlyCheck() throws IOException {
        Path src = LlamaSource.require();
        for (String vocab : List.of("llama-spm", "gpt-2", "llama-bpe", "phi-3")) {
            try (GgufFile f = GgufFile.open(src.resolve("models").resolve("ggml-vocab-" + vocab + ".gguf"))) {
                assertEquals(List.of(), ModelCheck.checkVocabulary(f).stream().map(ModelCheck.Problem::toString).toList(),
                        vocab);
            }
        }
        try (GgufFile f = GgufFile.open(variant("vocab-dup", m -> editTokens(m, t -> t.set(5, t.get(4)))))) {
            assertTrue(ModelCheck.checkVocabulary(f).stream().anyMatch(p -> p.rule().startsWith("appears twice")));
        }
    }

    @Test
    void theArchitectureListIsLlamaCppsOwn() throws IOException {
        String arch = Files.readString(LlamaSource.require().resolve("src/llama-arch.cpp"));
        Matcher table = Pattern.compile("LLM_ARCH_NAMES = \\{(.*?)\\n};", Pattern.DOTALL).matcher(arch);
        assertTrue(table.find(), "LLM_ARCH_NAMES not found in llama-arch.cpp");
        Set<String> names = new TreeSet<>();
        Matcher name = Pattern.compile("\"([^\"]+)\"").matcher(table.group(1));
        while (name.find()) {
            if (!name.group(1).equals("(unknown)")) {
                names.add(name.group(1));
            }
        }
        assertEquals(names, new TreeSet<>(ModelCheck.ARCHITECTURES));
    }

    static Stream<Arguments> rules() {
        return Stream.of(
                // load_hparams, every architecture
                rule("llama.block_count = 0: must be 1 to 512", m -> m.put("llama.block_count", GgufValue.ofUint32(0))),
                rule("llama.block_count = 1000: must be 1 to 512",
                        m -> m.put("llama.block_count", GgufValue.ofUint32(1000))),
                rule("llama.block_count = 513: must be 1 to 512", m -> m.put("llama.block_count", GgufValue.ofUint32(513))),
                rule("llama.block_count = 3: the file has tensors for 2 layers",
                        m -> m.put("llama.block_count", GgufValue.ofUint32(3))),
                rule("llama.block_count = -2: must be UINT32 but is INT32",
                        m -> m.put("llama.block_count", GgufValue.ofInt32(-2))),
                rule("llama.block_count: missing", m -> m.remove("llama.block_count")),
                rule("llama.context_length = 0: must be 1 to", m -> m.put("llama.context_length", GgufValue.ofUint32(0))),
                rule("llama.embedding_length: missing", m -> m.remove("llama.embedding_length")),
                rule("llama.nextn_predict_layers = 3: must not exceed block_count 2",
                        m -> m.put("llama.nextn_predict_layers", GgufValue.ofUint32(3))),
                rule("llama.expert_count = 2000: must not exceed 1024",
                        m -> m.put("llama.expert_count", GgufValue.ofUint32(2000))),
                rule("llama.expert_used_count = 2: must not exceed expert_count 0",
                        m -> m.put("llama.expert_used_count", GgufValue.ofUint32(2))),
                rule("llama.expert_used_count = 0: must be 1 or more when expert_count is 4",
                        m -> m.put("llama.expert_count", GgufValue.ofUint32(4))),
                rule("llama.expert_group_count = 4: must be less than expert_count 4", m -> {
                    m.put("llama.expert_count", GgufValue.ofUint32(4));
                    m.put("llama.expert_used_count", GgufValue.ofUint32(2));
                    m.put("llama.expert_group_count", GgufValue.ofUint32(4));
                }),
                rule("llama.expert_group_count = 3: must divide expert_count 4", m -> {
                    m.put("llama.expert_count", GgufValue.ofUint32(4));
                    m.put("llama.expert_used_count", GgufValue.ofUint32(2));
                    m.put("llama.expert_group_count", GgufValue.ofUint32(3));
                    m.put("llama.expert_group_used_count", GgufValue.ofUint32(1));
                }),
                rule("llama.expert_group_used_count = 0: must be 1 to 1", m -> {
                    m.put("llama.expert_count", GgufValue.ofUint32(4));
                    m.put("llama.expert_used_count", GgufValue.ofUint32(2));
                    m.put("llama.expert_group_count", GgufValue.ofUint32(2));
                }),
                rule("llama.expert_group_count = 1: must be 0 when the model has no experts",
                        m -> m.put("llama.expert_group_count", GgufValue.ofUint32(1))),
                rule("llama.rope.scaling.type = 'bogus': must be one of none, linear, yarn, longrope",
                        m -> m.put("llama.rope.scaling.type", GgufValue.of("bogus"))),
                rule("llama.attention.layer_norm_rms_epsilon = NaN: must be a finite number >= 0",
                        m -> m.put("llama.attention.layer_norm_rms_epsilon", GgufValue.of(Float.NaN))),
                rule("llama.attention.layer_norm_rms_epsilon = Infinity: must be a finite number >= 0",
                        m -> m.put("llama.attention.layer_norm_rms_epsilon", GgufValue.of(Float.POSITIVE_INFINITY))),
                rule("llama.attention.layer_norm_rms_epsilon = -1.0E-5: must be a finite number >= 0",
                        m -> m.put("llama.attention.layer_norm_rms_epsilon", GgufValue.of(-1e-5f))),
                rule("llama.attention.layer_norm_rms_epsilon = 1.0E-5: must be FLOAT32 but is FLOAT64",
                        m -> m.put("llama.attention.layer_norm_rms_epsilon", GgufValue.of(1e-5))),
                rule("llama.attention.layer_norm_rms_epsilon: missing",
                        m -> m.remove("llama.attention.layer_norm_rms_epsilon")),
                rule("general.alignment = 16: must be a multiple of 32", // the load campaign
                        m -> m.put("general.alignment", GgufValue.ofUint32(16))),
                rule("general.architecture = 'lama': not an architecture llama.cpp v0.5.0 knows",
                        m -> m.put("general.architecture", GgufValue.of("lama"))),
                // the llama graph
                rule("llama.attention.head_count = 0: must be 1 or more",
                        m -> m.put("llama.attention.head_count", GgufValue.ofUint32(0))),
                rule("llama.embedding_length = 64: must be a multiple of attention.head_count 3",
                        m -> m.put("llama.attention.head_count", GgufValue.ofUint32(3))),
                rule("llama.attention.head_count_kv = 3: must divide attention.head_count 4",
                        m -> m.put("llama.attention.head_count_kv", GgufValue.ofUint32(3))),
                rule("llama.attention.head_count = INT32[2][[4, 2]]: must be the same for every layer",
                        m -> m.put("llama.attention.head_count", GgufValue.of(GgufArray.ofInts(4, 2)))),
                rule("llama.attention.head_count = INT32[3]: must hold one value per layer (block_count 2)",
                        m -> m.put("llama.attention.head_count", GgufValue.of(GgufArray.ofInts(4, 4, 4)))),
                rule("llama.feed_forward_length: missing", m -> m.remove("llama.feed_forward_length")),
                rule("llama.attention.value_length = 8: must equal the key width 16",
                        m -> m.put("llama.attention.value_length", GgufValue.ofUint32(8))),
                rule("llama.rope.dimension_count = 8: must equal the head width 16",
                        m -> m.put("llama.rope.dimension_count", GgufValue.ofUint32(8))),
                rule("llama.attention.key_length = 15: gives a head width of 15; rope needs a positive even width", m -> {
                    m.put("llama.attention.key_length", GgufValue.ofUint32(15));
                    m.put("llama.attention.value_length", GgufValue.ofUint32(15));
                    m.put("llama.rope.dimension_count", GgufValue.ofUint32(15));
                }),
                rule("llama.rope.freq_base = NaN: must be a finite number > 0",
                        m -> m.put("llama.rope.freq_base", GgufValue.of(Float.NaN))),
                rule("llama.rope.scaling.factor = -2.0: must be a finite number >= 0",
                        m -> m.put("llama.rope.scaling.factor", GgufValue.of(-2f))),
                rule("llama.attention.causal = false: molora generates text",
                        m -> m.put("llama.attention.causal", GgufValue.of(false))),
                rule("llama.pooling_type = 1: must be 0 (none)", m -> m.put("llama.pooling_type", GgufValue.ofUint32(1))),
                rule("llama.embedding_length_out = 32: must equal embedding_length 64",
                        m -> m.put("llama.embedding_length_out", GgufValue.ofUint32(32))),
                // the vocabulary
                rule("tokenizer.ggml.model = 'bert': molora runs SPM ('llama') and BPE ('gpt2') tokenizers only",
                        m -> m.put("tokenizer.ggml.model", GgufValue.of("bert"))),
                rule("tokenizer.ggml.model = 'sentencepiece': unknown tokenizer",
                        m -> m.put("tokenizer.ggml.model", GgufValue.of("sentencepiece"))),
                rule("tokenizer.ggml.merges: missing: a BPE ('gpt2') tokenizer needs its merges",
                        m -> m.put("tokenizer.ggml.model", GgufValue.of("gpt2"))),
                rule("tokenizer.ggml.pre = 'whitespace': the 'whitespace' pre-tokenizer keeps spaces", m -> { // campaign
                    m.put("tokenizer.ggml.model", GgufValue.of("gpt2"));
                    m.put("tokenizer.ggml.pre", GgufValue.of("whitespace"));
                    m.put("tokenizer.ggml.merges", GgufValue.of(GgufArray.ofStrings(List.of("\u2581 a"))));
                }),
                rule("tokenizer.ggml.tokens[262] = '\u2581a': appears twice", m -> editTokens(m, t -> t.set(262, "\u2581a"))),
                rule("tokenizer.ggml.tokens[7] = '[EMPTY_7]': appears twice", m -> editTokens(m, t -> {
                    t.set(6, "[EMPTY_7]");
                    t.set(7, "");
                })),
                rule("tokenizer.ggml.tokens[263] = '\u2581a': appears twice in the vocabulary", // the load campaign
                        m -> editTokens(m, t -> t.set(263, "\u2581a\u0000world"))),
                rule("tokenizer.ggml.tokens = '<0x0A>' missing: an SPM ('llama') vocabulary needs all 256 byte tokens",
                        m -> editTokens(m, t -> t.set(3 + 10, "newline"))),
                rule("tokenizer.ggml.scores = FLOAT32[10]: must hold a score for each of the 264 tokens",
                        m -> m.put("tokenizer.ggml.scores", GgufValue.of(GgufArray.ofFloats(new float[10])))),
                rule("tokenizer.ggml.token_type = FLOAT32[264]",
                        m -> m.put("tokenizer.ggml.token_type", GgufValue.of(GgufArray.ofFloats(new float[264])))),
                rule("tokenizer.ggml.bos_token_id = 999: the tokenizer adds BOS, so it must be a token id below 1", m -> {
                    editTokens(m, t -> t.subList(1, t.size()).clear());
                    m.remove("tokenizer.ggml.scores");
                    m.remove("tokenizer.ggml.token_type");
                    m.put("tokenizer.ggml.bos_token_id", GgufValue.ofUint32(999));
                }),
                rule("tokenizer.ggml.eos_token_id = 999: add_eos_token is true, so it must be a token id below 2", m -> {
                    // the id is ignored (out of range) and the SPM default, 2, is not a token either
                    editTokens(m, t -> t.subList(2, t.size()).clear());
                    m.put("tokenizer.ggml.add_eos_token", GgufValue.of(true));
                    m.put("tokenizer.ggml.eos_token_id", GgufValue.ofUint32(999));
                }),
                // vocabulary against the tensors
                rule("token_embd.weight = [64, 264]: must be [embedding_length 64, vocabulary 265]",
                        m -> editTokens(m, t -> t.add("\u2581extra"))));
    }

    @Test
    void tensorTypesTheCpuOpsCannotTakeAreRefused() throws IOException {
        // same byte sizes, so the reader accepts them: F32 -> I32 for a norm and a matrix, F16 -> ... for a norm
        Path file = dir.resolve("types.gguf");
        try (GgufFile f = GgufFile.open(valid)) {
            GgufWriter w = new GgufWriter().putAll(f.metadata());
            for (GgufTensorInfo t : f.tensors()) {
                GgmlType type = switch (t.name()) {
                    case "output_norm.weight", "blk.0.attn_q.weight" -> GgmlType.I32;
                    default -> t.type();
                };
                w.addTensor(t.name(), type, t.shape(), TensorSources.ofSegment(f.tensorData(t)));
            }
            w.write(file);
        }
        List<String> found = problems(file);
        assertTrue(found.contains("output_norm.weight = I32: a tensor of one row must be F32: llama.cpp uses those as"
                + " norms, biases and rope factors, which ggml adds and multiplies with F32 activations, aborting on any"
                + " other type"), found.toString());
        assertTrue(found.contains("blk.0.attn_q.weight = I32: ggml's CPU backend has no matrix product for I32 (it"
                + " aborts at the first decode)"), found.toString());
        assertEquals(2, found.size(), found.toString());
    }

    private static Arguments rule(String expected, Consumer<Map<String, GgufValue>> edit) {
        return Arguments.of(expected, edit);
    }

    private static void editTokens(Map<String, GgufValue> m, Consumer<List<String>> edit) {
        List<String> tokens = new ArrayList<>(m.get("tokenizer.ggml.tokens").asArray().strings());
        edit.accept(tokens);
        m.put("tokenizer.ggml.tokens", GgufValue.of(GgufArray.ofStrings(tokens)));
        if (tokens.size() != 264) {
            float[] s = new float[tokens.size()];
            int[] t = new int[tokens.size()];
            java.util.Arrays.fill(t, 1);
            m.put("tokenizer.ggml.scores", GgufValue.of(GgufArray.ofFloats(s)));
            m.put("tokenizer.ggml.token_type", GgufValue.of(GgufArray.ofInts(t)));
        }
    }

    private static final Set<String> NAMES = new HashSet<>();

    @ParameterizedTest(name = "{0}")
    @MethodSource("rules")
    void eachRuleNamesTheKeyAndTheValue(String expected, Consumer<Map<String, GgufValue>> edit) throws IOException {
        String name = expected.substring(0, Math.min(40, expected.length()));
        while (!NAMES.add(name)) {
            name += "_";
        }
        List<String> found = problems(variant(name, edit));
        assertTrue(found.stream().anyMatch(p -> p.startsWith(expected)), "expected '" + expected + "' in " + found);
    }
}
