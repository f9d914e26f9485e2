package io.molora.gguf;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The metadata checks llama.cpp (v0.5.0) would otherwise make with {@code GGML_ASSERT} / {@code GGML_ABORT}, or
 * with a C++ exception that escapes its C API: each of those ends the whole process (the JVM with it), so a model
 * file must pass them here, in Java, before any native call sees it. Rules that llama.cpp enforces with a clean
 * refusal are checked too where a clear message is cheap (types, tensor shapes), so the user reads the key and its
 * value instead of "llama.cpp could not load model".
 *
 * <p>For every architecture ({@code llama_model_base::load_hparams}, {@code llama_vocab::impl::load}):
 * <ul>
 * <li>{@code <arch>.block_count} 1..{@value #MAX_LAYERS} (GGML_ASSERT, LLAMA_MAX_LAYERS), context and embedding
 *     lengths present and positive, {@code nextn_predict_layers <= block_count};</li>
 * <li>the expert counts (expert_count &lt;= {@value #MAX_EXPERTS}, expert_used_count within it, groups dividing
 *     it, all zero without experts: seven GGML_ASSERTs);</li>
 * <li>{@code rope.scaling.type} one of none, linear, yarn, longrope (GGML_ASSERT on anything else);</li>
 * <li>layer-norm epsilons finite and &gt;= 0 (ggml's norms assert {@code eps >= 0}: NaN and negatives abort at the
 *     first decode);</li>
 * <li>the tokenizer: SPM ({@code llama}) or BPE ({@code gpt2}), token strings unique (GGML_ASSERT), scores and
 *     token types as long as the tokens, every byte token of an SPM vocabulary present (a missing one makes
 *     tokenizing throw through the C API), BOS/EOS ids valid when the tokenizer adds them (GGML_ASSERT).</li>
 * </ul>
 * Tensor data: {@code general.alignment} a multiple of 32 (ggml asserts 32-byte aligned buffers over the mapped
 * file). Tensor types: one-row tensors (norms, biases) F32, matrices of a type the CPU backend can multiply
 * ({@link #MATMUL_TYPES}); llama.cpp checks shapes, not types, and ggml aborts on the first op that cannot take one.
 * For {@code llama} (the graph builder in {@code src/models/llama.cpp} and the ggml ops it uses): head counts
 * positive and the same for every layer, KV heads dividing heads, key width = value width = rope dimensions (a
 * GGML_ASSERT in the graph), an even head width (ggml's rope), causal attention, no pooling, no separate output
 * width, finite rope parameters, and the token embedding / output shapes against the vocabulary and layer count.
 */
public final class ModelCheck {
    /** LLAMA_MAX_LAYERS (src/llama-hparams.h). */
    public static final int MAX_LAYERS = 512;
    /** LLAMA_MAX_EXPERTS (src/llama-hparams.h). */
    public static final int MAX_EXPERTS = 1024;
    /** Largest context length accepted: llama.cpp pads n_ctx to 256 in uint32 and uses it as an int. */
    public static final long MAX_CONTEXT = Integer.MAX_VALUE - 255L;
    /**
     * Tensor types ggml's CPU backend can multiply (the type_traits_cpu entries with a vec_dot): all but the integer
     * types, F64 and the Q8_1 / Q8_K intermediates.
     */
    public static final Set<GgmlType> MATMUL_TYPES = java.util.Collections.unmodifiableSet(java.util.EnumSet.complementOf(
            java.util.EnumSet.of(GgmlType.I8, GgmlType.I16, GgmlType.I32, GgmlType.I64, GgmlType.F64, GgmlType.Q8_1,
                    GgmlType.Q8_K)));
    /** ggml's TENSOR_ALIGNMENT (ggml/src/ggml-impl.h). */
    static final int TENSOR_ALIGNMENT = 32;
    /** Tokenizers whose llama.cpp code paths these rules cover. */
    public static final Set<String> TOKENIZERS = Set.of("llama", "gpt2");

    /** The architecture names llama.cpp v0.5.0 knows: LLM_ARCH_NAMES in src/llama-arch.cpp. */
    static final Set<String> ARCHITECTURES = Set.of(
            "clip", "llama", "llama4", "deci", "falcon", "grok", "gpt2", "gptj", "gptneox", "mpt",
            "baichuan", "starcoder", "refact", "bert", "modern-bert", "nomic-bert", "nomic-bert-moe",
            "neo-bert", "jina-bert-v2", "jina-bert-v3", "eurobert", "bloom", "stablelm", "qwen", "qwen2",
            "qwen2moe", "qwen2vl", "qwen3", "qwen3moe", "qwen3next", "qwen3vl", "qwen3vlmoe", "qwen35",
            "qwen35moe", "qwen4exp", "phi2", "phi3", "phimoe", "plamo", "plamo2", "plamo3", "codeshell",
            "orion", "internlm2", "minicpm", "minicpm3", "gemma", "gemma2", "gemma3", "gemma3n", "gemma4",
            "gemma4-assistant", "gemma-embedding", "starcoder2", "mamba", "mamba2", "maple", "jamba",
            "falcon-h1", "xverse", "command-r", "cohere2", "cohere2moe", "dbrx", "olmo", "olmo2", "olmoe",
            "muse-glimmer", "openelm", "arctic", "deepseek", "deepseek2", "deepseek2-ocr", "deepseek32",
            "deepseek4", "chatglm", "glm4", "glm4moe", "glm-dsa", "bitnet", "t5", "t5encoder", "jais",
            "jais2", "nemotron", "nemotron_h", "nemotron_h_moe", "exaone", "exaone4", "exaone-moe", "rwkv6",
            "rwkv6qwen2", "rwkv7", "arwkv7", "granite", "granitemoe", "granitehybrid", "graniteswitch",
            "granite_swa", "chameleon", "wavtokenizer-dec", "plm", "bailingmoe", "bailingmoe2",
            "bailingmoe3", "dots1", "dots3note", "arcee", "afmoe", "laguna", "ernie4_5", "ernie4_5-moe",
            "hunyuan-moe", "hunyuan-dense", "hunyuan_vl", "hy_v3", "hy_v4", "smollm3", "gpt-oss", "lfm2",
            "lfm2moe", "dream", "smallthinker", "llada", "llada-moe", "seed_oss", "grovemoe", "apertus",
            "minimax-01", "hrm_text", "minimax-m2", "minimax-m3", "cogvlm", "rnd1", "pangu-embedded",
            "mistral3", "eagle3", "dflash", "mistral4", "paddleocr", "mimo2", "step35", "spark2_5",
            "llama-embed", "maincoder", "kimi-linear", "kimi-k3", "talkie", "mellum", "nanbeige",
            "qwen3tts", "pockettts");
    private static final Set<String> ROPE_SCALING = Set.of("none", "linear", "yarn", "longrope");
    private static final Set<String> KNOWN_TOKENIZERS = Set.of("no_vocab", "none", "llama", "bert", "gpt2",
            "hybriddna", "whitespace", "t5", "rwkv", "test", "plamo2", "gemma4");
    private static final Pattern LAYER = Pattern.compile("blk\\.(\\d+)\\.");

    /**
     * One reason llama.cpp would abort or refuse: the metadata key (or tensor name), its value as the file has it,
     * and the rule. {@code toString()} is the one line a user reads: {@code key = value: rule}.
     */
    public record Problem(String key, String value, String rule) {
        @Override
        public String toString() {
            return value.isEmpty() ? key + ": " + rule : key + " = " + value + ": " + rule;
        }
    }

    private final GgufFile file;
    private final List<Problem> problems = new ArrayList<>();

    private ModelCheck(GgufFile file) {
        this.file = file;
    }

    /** Every problem found; empty when llama.cpp can load the model and decode with it. */
    public static List<Problem> check(GgufFile file) {
        ModelCheck c = new ModelCheck(file);
        c.run(false);
        return List.copyOf(c.problems);
    }

    /**
     * The problems of a vocabulary-only load ({@code vocab_only}: llama.cpp reads the architecture and the tokenizer,
     * no hyperparameters, no tensors), such as llama.cpp's own {@code models/ggml-vocab-*.gguf} files.
     */
    public static List<Problem> checkVocabulary(GgufFile file) {
        ModelCheck c = new ModelCheck(file);
        c.run(true);
        return List.copyOf(c.problems);
    }

    private void run(boolean vocabOnly) {
        Optional<GgufValue> archValue = file.get("general.architecture");
        if (archValue.isEmpty()) {
            problem("general.architecture", "", "missing: llama.cpp needs the model's architecture");
            return;
        }
        if (archValue.get().type() != GgufValueType.STRING) {
            typeProblem("general.architecture", archValue.get(), "STRING");
            return;
        }
        String arch = archValue.get().asString();
        if (!ARCHITECTURES.contains(arch)) {
            problem("general.architecture", archValue.get(), "not an architecture llama.cpp v0.5.0 knows");
            return;
        }
        if (vocabOnly) {
            vocabulary();
            return;
        }
        Hparams h = hyperparameters(arch);
        int vocabSize = vocabulary();
        tensorTypes();
        if (arch.equals("llama") && h != null) {
            llama(h, vocabSize);
        }
    }

    /** What the rules of {@link #llama} need from the common part; null when block_count itself is unusable. */
    private record Hparams(String arch, long embd, long layers) {}

    // ---- llama_model_base::load_hparams: every architecture ----

    private Hparams hyperparameters(String arch) {
        String p = arch + ".";
        Long ctx = requiredU32(p + "context_length");
        if (ctx != null && (ctx < 1 || ctx > MAX_CONTEXT)) {
            problem(p + "context_length", ctx, "must be 1 to " + MAX_CONTEXT + " tokens");
        }
        Long embd = requiredU32(p + "embedding_length");
        if (embd != null && embd < 1) {
            problem(p + "embedding_length", embd, "must be 1 or more");
        }
        Long layers = requiredU32(p + "block_count");
        if (layers != null && (layers < 1 || layers > MAX_LAYERS)) {
            problem(p + "block_count", layers, "must be 1 to " + MAX_LAYERS
                    + " layers (llama.cpp asserts 0 < n_layer <= LLAMA_MAX_LAYERS)");
            layers = null;
        }
        Long nextn = optionalU32(p + "nextn_predict_layers");
        if (nextn != null && layers != null && nextn > layers) {
            problem(p + "nextn_predict_layers", nextn, "must not exceed block_count " + layers);
        }
        if (layers != null) {
            experts(p, layers);
        }
        Optional<GgufValue> scaling = file.get(p + "rope.scaling.type");
        if (scaling.isPresent()) {
            if (scaling.get().type() != GgufValueType.STRING) {
                typeProblem(p + "rope.scaling.type", scaling.get(), "STRING");
            } else if (!ROPE_SCALING.contains(scaling.get().asString())) {
                problem(p + "rope.scaling.type", scaling.get(), "must be one of none, linear, yarn, longrope");
            }
        }
        for (String eps : List.of("attention.layer_norm_epsilon", "attention.layer_norm_rms_epsilon")) {
            Float e = optionalF32(p + eps);
            if (e != null && !(Float.isFinite(e) && e >= 0)) {
                problem(p + eps, e, "must be a finite number >= 0 (ggml's norms assert eps >= 0)");
            }
        }
        return embd != null && embd >= 1 && layers != null ? new Hparams(arch, embd, layers) : null;
    }

    /** The expert-count assertions of load_hparams, in their order. */
    private void experts(String p, long layers) {
        long experts = orZero(optionalU32(p + "expert_count"));
        long[] used = perLayer(p + "expert_used_count", layers, false);
        long usedMax = 0;
        if (used != null) {
            for (long u : used) {
                usedMax = Math.max(usedMax, u);
            }
        }
        long groups = orZero(optionalU32(p + "expert_group_count"));
        long groupsUsed = orZero(optionalU32(p + "expert_group_used_count"));
        if (experts > MAX_EXPERTS) {
            problem(p + "expert_count", experts, "must not exceed " + MAX_EXPERTS + " (LLAMA_MAX_EXPERTS)");
            return;
        }
        if (usedMax > experts) {
            problem(p + "expert_used_count", usedMax, "must not exceed expert_count " + experts);
        } else if (experts > 0) {
            if (usedMax == 0) {
                problem(p + "expert_used_count", usedMax, "must be 1 or more when expert_count is " + experts);
            }
            if (groups >= experts) {
                problem(p + "expert_group_count", groups, "must be less than expert_count " + experts);
            } else if (groups > 1) {
                if (experts % groups != 0) {
                    problem(p + "expert_group_count", groups, "must divide expert_count " + experts);
                }
                if (groupsUsed == 0 || groupsUsed >= groups) {
                    problem(p + "expert_group_used_count", groupsUsed, "must be 1 to " + (groups - 1)
                            + " (less than expert_group_count)");
                }
            }
        } else if (groups != 0) {
            problem(p + "expert_group_count", groups, "must be 0 when the model has no experts");
        }
    }

    // ---- the tensor types the ggml CPU ops take ----

    /**
     * llama.cpp checks a weight's shape but not whether the ops it feeds take its type: a norm weight of I32 or F16
     * aborts in ggml's binary ops ("unsupported types"), a matrix of I32 finds no dot product.
     */
    private void tensorTypes() {
        // llama.cpp maps the tensor data in place, and ggml asserts that a buffer made from it starts 32-byte aligned
        if (file.alignment() % TENSOR_ALIGNMENT != 0) {
            problem(GgufParser.ALIGNMENT_KEY, file.alignment(), "must be a multiple of " + TENSOR_ALIGNMENT + ": llama.cpp"
                    + " maps tensor data in place and ggml asserts 32-byte aligned buffers");
        }
        for (GgufTensorInfo t : file.tensors()) {
            boolean oneRow = t.elementCount() == t.dim(0);
            if (oneRow && t.type() != GgmlType.F32) {
                problem(t.name(), t.type().name(), "a tensor of one row must be F32: llama.cpp uses those as norms,"
                        + " biases and rope factors, which ggml adds and multiplies with F32 activations, aborting on"
                        + " any other type");
            } else if (!oneRow && !MATMUL_TYPES.contains(t.type())) {
                problem(t.name(), t.type().name(), "ggml's CPU backend has no matrix product for " + t.type()
                        + " (it aborts at the first decode)");
            }
        }
    }

    // ---- llama_vocab::impl::load ----

    /** Checks the tokenizer; returns the number of tokens, or -1 when it is unusable. */
    private int vocabulary() {
        Optional<GgufValue> modelValue = file.get("tokenizer.ggml.model");
        String model = null;
        if (modelValue.isEmpty()) {
            problem("tokenizer.ggml.model", "", "missing: molora needs the model's tokenizer");
        } else if (modelValue.get().type() != GgufValueType.STRING) {
            typeProblem("tokenizer.ggml.model", modelValue.get(), "STRING");
        } else {
            model = modelValue.get().asString();
            if (!TOKENIZERS.contains(model)) {
                problem("tokenizer.ggml.model", modelValue.get(), KNOWN_TOKENIZERS.contains(model)
                        ? "molora runs SPM ('llama') and BPE ('gpt2') tokenizers only"
                        : "unknown tokenizer (molora runs 'llama' and 'gpt2')");
                model = null;
            }
        }
        Optional<GgufValue> tokensValue = file.get("tokenizer.ggml.tokens");
        if (tokensValue.isEmpty()) {
            problem("tokenizer.ggml.tokens", "", "missing: the model has no vocabulary");
            return -1;
        }
        if (!isArrayOf(tokensValue.get(), GgufValueType.STRING)) {
            typeProblem("tokenizer.ggml.tokens", tokensValue.get(), "ARRAY of STRING");
            return -1;
        }
        List<String> tokens = tokensValue.get().asArray().strings();
        int n = tokens.size();
        if (n == 0) {
            problem("tokenizer.ggml.tokens", tokensValue.get(), "must hold at least one token");
            return -1;
        }
        // llama.cpp maps text -> id and asserts that no two ids share a text; it reads each token as a C string (up to
        // the first NUL byte), and an empty one as "[EMPTY_<id>]"
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < n; i++) {
            String t = asCString(tokens.get(i));
            t = t.isEmpty() ? "[EMPTY_" + i + "]" : t;
            if (!seen.add(t)) {
                problem("tokenizer.ggml.tokens[" + i + "]", quote(t), "appears twice in the vocabulary"
                        + " (llama.cpp asserts every token text is unique)");
                return -1;
            }
        }
        file.get("tokenizer.ggml.scores").ifPresent(v -> {
            if (!isArrayOf(v, GgufValueType.FLOAT32) && !isArrayOf(v, GgufValueType.INT32)) {
                typeProblem("tokenizer.ggml.scores", v, "ARRAY of FLOAT32 or INT32");
            } else if (v.asArray().size() < n) {
                problem("tokenizer.ggml.scores", arrayLength(v), "must hold a score for each of the " + n + " tokens");
            }
        });
        file.get("tokenizer.ggml.token_type").ifPresent(v -> {
            if (!isArrayOf(v, GgufValueType.INT32)) {
                typeProblem("tokenizer.ggml.token_type", v, "ARRAY of INT32");
            } else if (v.asArray().size() < n) {
                problem("tokenizer.ggml.token_type", arrayLength(v), "must hold a type for each of the " + n + " tokens");
            }
        });
        if (model == null) {
            return n;
        }
        if (model.equals("llama")) {
            // an SPM tokenizer falls back to <0xXX> byte tokens for text outside the vocabulary; llama.cpp looks them up
            // with std::map::at, whose exception would cross the C API (std::terminate)
            Set<String> all = new HashSet<>();
            tokens.forEach(t -> all.add(asCString(t)));
            for (int b = 0; b < 256; b++) {
                String byteToken = String.format(Locale.ROOT, "<0x%02X>", b);
                if (!all.contains(byteToken)) {
                    problem("tokenizer.ggml.tokens", quote(byteToken) + " missing", "an SPM ('llama') vocabulary needs"
                            + " all 256 byte tokens <0x00>..<0xFF> (llama.cpp aborts tokenizing text it cannot spell)");
                    break;
                }
            }
        } else {
            Optional<GgufValue> pre = file.get("tokenizer.ggml.pre");
            if (pre.isPresent() && pre.get().type() == GgufValueType.STRING && pre.get().asString().equals("whitespace")) {
                // it hands raw text to BPE, neither byte-encoded nor with spaces escaped: find_bpe_rank asserts that
                // no symbol holds a space
                problem("tokenizer.ggml.pre", pre.get(), "the 'whitespace' pre-tokenizer keeps spaces in what BPE"
                        + " merges, and llama.cpp asserts on them (molora runs byte-level BPE)");
            }
            Optional<GgufValue> merges = file.get("tokenizer.ggml.merges");
            if (merges.isPresent() && !isArrayOf(merges.get(), GgufValueType.STRING)) {
                typeProblem("tokenizer.ggml.merges", merges.get(), "ARRAY of STRING");
            } else if (merges.isEmpty()) {
                problem("tokenizer.ggml.merges", "", "missing: a BPE ('gpt2') tokenizer needs its merges");
            }
        }
        specialTokens(model, n);
        return n;
    }

    /**
     * llama.cpp asserts that BOS (EOS) is a real token whenever the tokenizer adds it: the ids fall back to the
     * tokenizer's defaults, an id outside the vocabulary is ignored, and add_bos defaults to true.
     */
    private void specialTokens(String model, int n) {
        boolean spm = model.equals("llama");
        long bos = specialId("tokenizer.ggml.bos_token_id", spm ? 1 : 11, n);
        long eos = specialId("tokenizer.ggml.eos_token_id", spm ? 2 : 11, n);
        Boolean addBos = optionalBool("tokenizer.ggml.add_bos_token");
        Boolean addEos = optionalBool("tokenizer.ggml.add_eos_token");
        // SPM adds BOS by default; BPE's default depends on the pre-tokenizer, so assume it does
        if ((addBos == null || addBos) && bos < 0) {
            problem("tokenizer.ggml.bos_token_id", file.get("tokenizer.ggml.bos_token_id").map(ModelCheck::render)
                    .orElse("absent"), "the tokenizer adds BOS, so it must be a token id below " + n);
        }
        if (addEos != null && addEos && eos < 0) {
            problem("tokenizer.ggml.eos_token_id", file.get("tokenizer.ggml.eos_token_id").map(ModelCheck::render)
                    .orElse("absent"), "add_eos_token is true, so it must be a token id below " + n);
        }
    }

    /** The id llama.cpp ends up with for a special token, or -1 (LLAMA_TOKEN_NULL). */
    private long specialId(String key, long defaultId, int n) {
        long id = defaultId < n ? defaultId : -1;
        Long explicit = optionalU32(key);
        return explicit != null && explicit < n ? explicit : id;
    }

    // ---- the llama architecture: llama_model_llama::load_arch_hparams, load_arch_tensors and its graph ----

    private void llama(Hparams h, int vocabSize) {
        String p = "llama.";
        optionalU32(p + "vocab_size");
        if (file.get(p + "attention.layer_norm_rms_epsilon").isEmpty()) {
            problem(p + "attention.layer_norm_rms_epsilon", "", "missing: a llama model needs its RMS norm epsilon");
        }
        long heads = uniform(p + "attention.head_count", h.layers(), true);
        long kvHeads = file.get(p + "attention.head_count_kv").isPresent()
                ? uniform(p + "attention.head_count_kv", h.layers(), false) : heads;
        long ff = uniform(p + "feed_forward_length", h.layers(), true);
        if (heads == 0) {
            problem(p + "attention.head_count", 0L, "must be 1 or more");
        }
        if (kvHeads == 0) {
            problem(p + "attention.head_count_kv", 0L, "must be 1 or more");
        }
        if (ff == 0) {
            problem(p + "feed_forward_length", 0L, "must be 1 or more");
        }
        if (heads > 0 && kvHeads > 0 && heads % kvHeads != 0) {
            problem(p + "attention.head_count_kv", kvHeads, "must divide attention.head_count " + heads);
        }
        if (heads > 0) {
            headWidths(p, h, heads);
        }
        Float base = optionalF32(p + "rope.freq_base");
        if (base != null && !(Float.isFinite(base) && base > 0)) {
            problem(p + "rope.freq_base", base, "must be a finite number > 0");
        }
        for (String key : List.of("rope.scaling.factor", "rope.scale_linear")) {
            Float f = optionalF32(p + key);
            if (f != null && !(Float.isFinite(f) && f >= 0)) {
                problem(p + key, f, "must be a finite number >= 0 (0 = no scaling)");
            }
        }
        Float attn = optionalF32(p + "rope.scaling.attn_factor");
        if (attn != null && !Float.isFinite(attn)) {
            problem(p + "rope.scaling.attn_factor", attn, "must be a finite number");
        }
        optionalU32(p + "rope.scaling.original_context_length");
        Boolean causal = optionalBool(p + "attention.causal");
        if (causal != null && !causal) {
            // non-causal attention asserts n_ubatch >= n_tokens in every decode, and cannot generate text anyway
            problem(p + "attention.causal", "false", "molora generates text: a llama model must use causal attention");
        }
        Long pooling = optionalU32(p + "pooling_type");
        if (pooling != null && pooling != 0) {
            problem(p + "pooling_type", pooling, "must be 0 (none): molora reads one output per token");
        }
        Long out = optionalU32(p + "embedding_length_out");
        if (out != null && out != h.embd()) {
            problem(p + "embedding_length_out", out, "must equal embedding_length " + h.embd() + " for llama");
        }
        tensors(h, vocabSize);
    }

    /** Key width = value width = rope dimensions, positive and even: the llama graph and ggml's rope assert it. */
    private void headWidths(String p, Hparams h, long heads) {
        Long k = optionalU32(p + "attention.key_length");
        Long v = optionalU32(p + "attention.value_length");
        if ((k == null || v == null) && h.embd() % heads != 0) {
            problem(p + "embedding_length", h.embd(), "must be a multiple of attention.head_count " + heads
                    + " (or the file must give attention.key_length and value_length)");
            return;
        }
        long keyWidth = k != null ? k : h.embd() / heads;
        long valueWidth = v != null ? v : h.embd() / heads;
        if (keyWidth != valueWidth) {
            problem(p + "attention.value_length", valueWidth, "must equal the key width " + keyWidth
                    + " (the llama graph asserts it)");
        }
        Long rot = optionalU32(p + "rope.dimension_count");
        long rotation = rot != null ? rot : keyWidth;
        if (rotation != keyWidth) {
            problem(p + "rope.dimension_count", rotation, "must equal the head width " + keyWidth + " for llama");
        } else if (keyWidth == 0 || keyWidth % 2 != 0) {
            problem(k != null ? p + "attention.key_length" : p + "attention.head_count", k != null ? k : heads,
                    "gives a head width of " + keyWidth + "; rope needs a positive even width");
        }
    }

    /** The tensor table against the hyperparameters, for the two shapes users get wrong most: vocab and layers. */
    private void tensors(Hparams h, int vocabSize) {
        for (String name : List.of("token_embd.weight", "output.weight")) {
            Optional<GgufTensorInfo> t = file.tensor(name);
            if (t.isEmpty()) {
                if (name.startsWith("token")) {
                    problem(name, "", "missing: a llama model needs its token embeddings");
                }
                continue;
            }
            GgufTensorInfo x = t.get();
            if (x.dimensions() != 2 || x.dim(0) != h.embd() || (vocabSize > 0 && x.dim(1) != vocabSize)) {
                problem(name, java.util.Arrays.toString(x.shape()), "must be [embedding_length " + h.embd()
                        + ", vocabulary " + (vocabSize > 0 ? vocabSize : "?") + "]");
            }
        }
        long highest = -1;
        for (GgufTensorInfo t : file.tensors()) {
            Matcher m = LAYER.matcher(t.name());
            if (m.lookingAt()) {
                try {
                    highest = Math.max(highest, Long.parseLong(m.group(1)));
                } catch (NumberFormatException e) {
                    highest = Long.MAX_VALUE;
                }
            }
        }
        long nextn = orZero(optionalU32Quiet("llama.nextn_predict_layers"));
        if (highest >= 0 && highest + 1 != h.layers() - nextn) {
            problem("llama.block_count", h.layers(), "the file has tensors for " + (highest == Long.MAX_VALUE
                    ? "an absurd number of" : String.valueOf(highest + 1)) + " layers (blk.0 to blk." + highest + ")");
        }
    }

    // ---- typed access, each mismatch a problem (llama.cpp's get_key requires the exact type) ----

    private Long requiredU32(String key) {
        if (file.get(key).isEmpty()) {
            problem(key, "", "missing: llama.cpp requires it");
            return null;
        }
        return optionalU32(key);
    }

    private Long optionalU32(String key) {
        Optional<GgufValue> v = file.get(key);
        if (v.isEmpty()) {
            return null;
        }
        if (v.get().type() != GgufValueType.UINT32) {
            typeProblem(key, v.get(), "UINT32");
            return null;
        }
        return v.get().asLong();
    }

    private Long optionalU32Quiet(String key) {
        Optional<GgufValue> v = file.get(key);
        return v.isPresent() && v.get().type() == GgufValueType.UINT32 ? v.get().asLong() : null;
    }

    private Float optionalF32(String key) {
        Optional<GgufValue> v = file.get(key);
        if (v.isEmpty()) {
            return null;
        }
        if (v.get().type() != GgufValueType.FLOAT32) {
            typeProblem(key, v.get(), "FLOAT32");
            return null;
        }
        return (Float) v.get().value();
    }

    private Boolean optionalBool(String key) {
        Optional<GgufValue> v = file.get(key);
        if (v.isEmpty()) {
            return null;
        }
        if (v.get().type() != GgufValueType.BOOL) {
            typeProblem(key, v.get(), "BOOL");
            return null;
        }
        return v.get().asBoolean();
    }

    /**
     * A per-layer value (get_key_or_arr): one UINT32 for every layer, or an array of one UINT32/INT32 (or BOOL) per
     * layer. Returns the values, or null when absent or malformed (reported).
     */
    private long[] perLayer(String key, long layers, boolean required) {
        Optional<GgufValue> v = file.get(key);
        if (v.isEmpty()) {
            if (required) {
                problem(key, "", "missing: llama.cpp needs it for every layer");
            }
            return null;
        }
        GgufValue value = v.get();
        if (value.type() == GgufValueType.ARRAY) {
            GgufArray a = value.asArray();
            if (a.size() != layers) {
                problem(key, arrayLength(value), "must hold one value per layer (block_count " + layers + ")");
                return null;
            }
            long[] out = new long[a.size()];
            switch (a.elementType()) {
                case UINT32, INT32 -> {
                    int[] e = (int[]) a.elements();
                    for (int i = 0; i < e.length; i++) {
                        out[i] = Integer.toUnsignedLong(e[i]);
                    }
                }
                case BOOL -> {
                    boolean[] e = (boolean[]) a.elements();
                    for (int i = 0; i < e.length; i++) {
                        out[i] = e[i] ? 1 : 0;
                    }
                }
                default -> {
                    typeProblem(key, value, "UINT32 or an ARRAY of UINT32/INT32");
                    return null;
                }
            }
            return out;
        }
        if (value.type() != GgufValueType.UINT32) {
            typeProblem(key, value, "UINT32 or an ARRAY of UINT32/INT32");
            return null;
        }
        long[] out = new long[(int) layers];
        java.util.Arrays.fill(out, value.asLong());
        return out;
    }

    /**
     * A per-layer value that llama builds every layer from layer 0's copy of: must be the same for all layers.
     * Returns it, 0 when malformed (reported) or, for an optional key, when absent.
     */
    private long uniform(String key, long layers, boolean required) {
        long[] values = perLayer(key, layers, required);
        if (values == null) {
            return -1;
        }
        for (long x : values) {
            if (x != values[0]) {
                problem(key, render(file.get(key).orElseThrow()), "must be the same for every layer of a llama model");
                return -1;
            }
        }
        return values[0];
    }

    private static boolean isArrayOf(GgufValue v, GgufValueType element) {
        return v.type() == GgufValueType.ARRAY && v.asArray().elementType() == element;
    }

    private void typeProblem(String key, GgufValue v, String expected) {
        String actual = v.type() == GgufValueType.ARRAY ? "ARRAY of " + v.asArray().elementType() : v.type().name();
        problems.add(new Problem(key, render(v), "must be " + expected + " but is " + actual));
    }

    private void problem(String key, Object value, String rule) {
        problems.add(new Problem(key, value instanceof GgufValue g ? render(g) : String.valueOf(value), rule));
    }

    /** What C code reads of a GGUF string: up to its first NUL byte. */
    private static String asCString(String s) {
        int nul = s.indexOf('\0');
        return nul < 0 ? s : s.substring(0, nul);
    }

    private static long orZero(Long v) {
        return v == null ? 0 : v;
    }

    private static String arrayLength(GgufValue v) {
        return v.asArray().elementType() + "[" + v.asArray().size() + "]";
    }

    private static String quote(String s) {
        String shown = s.length() > 40 ? s.substring(0, 40) + "..." : s;
        return "'" + shown + "'";
    }

    /** A value as the one-line messages show it: numbers plainly (NaN, Infinity), strings quoted, arrays sized. */
    static String render(GgufValue v) {
        return switch (v.type()) {
            case STRING -> quote(v.asString());
            case ARRAY -> {
                String s = v.asArray().toString();
                yield s.length() > 80 ? s.substring(0, 80) + "...]" : s;
            }
            case FLOAT32, FLOAT64, BOOL -> String.valueOf(v.value());
            case UINT64 -> Long.toUnsignedString(v.asLong());
            default -> Long.toString(v.asLong());
        };
    }
}
