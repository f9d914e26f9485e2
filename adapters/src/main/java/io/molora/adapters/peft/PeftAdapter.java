package io.molora.adapters.peft;

import io.molora.adapters.gate.RouterFile;
import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufArray;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.GgufTensorInfo;
import io.molora.gguf.GgufValue;
import io.molora.gguf.GgufValueType;
import io.molora.gguf.GgufWriter;
import io.molora.gguf.LoraCompatibility;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A Hugging Face PEFT LoRA directory ({@code adapter_config.json} + {@code adapter_model.safetensors}) converted to
 * the GGUF adapter llama.cpp loads, in Java, as llama.cpp's {@code convert_lora_to_gguf.py} converts it (v0.5.0's
 * pinned source) with its default {@code --outtype f32}:
 * <ol>
 *   <li>each safetensors name goes through {@code get_base_tensor_name} (every {@code base_model.model.} removed,
 *       {@code .lora_A.weight}/{@code .lora_B.weight} → {@code .weight}), then {@code filter_tensors}
 *       ({@code language_model.} and, for llama, {@code text_model.} removed; multimodal towers skipped, as
 *       TextModel.filter_tensors skips them), then the architecture's names ({@link PeftArchitecture});</li>
 *   <li>{@code .base_layer.weight} tensors are skipped; layer norms ({@code _layernorm}, {@code .norm}, which
 *       mergekit-extract-lora adds) are dropped, since llama.cpp ignores every {@code _norm.weight} tensor of an
 *       adapter (llama_adapter_lora_init_impl); anything else that is not a lora_A or lora_B is refused, as the
 *       script refuses it ("Not a lora_A or lora_B tensor");</li>
 *   <li>lora_A {@code [r, in]} is written as GGUF {@code X.lora_a} with ne {@code [in, r]}, lora_B {@code [out, r]}
 *       as {@code X.lora_b} with ne {@code [r, out]}, both F32 (F16 and BF16 widened exactly), pairs in the order of
 *       their first tensor in the sorted safetensors names; for llama, lora_B of q_proj and k_proj has its rows
 *       permuted as {@code LlamaModel.permute} permutes the base's;</li>
 *   <li>keys: {@code general.architecture} (the base's), {@code general.type = adapter}, {@code adapter.type = lora},
 *       {@code adapter.lora.alpha} (F32, {@link PeftConfig#alpha()}), {@code adapter.alora_invocation_tokens} when the
 *       config has them, {@code general.quantization_version = 2}; plus molora's own {@code molora.peft.source}
 *       (the {@linkplain #cacheKey cache key}) and {@code molora.peft.data_sha256} (of the tensor data), by which a
 *       cache entry is recognised and checked ({@link #verify}). The script's descriptive {@code general.name}
 *       (from gguf-py's model-card heuristics) is not written: llama.cpp does not read it.</li>
 * </ol>
 * Only bases of the architectures in {@link PeftArchitecture} are converted; every other refusal names the file or
 * tensor and what to do, in one line.
 */
public final class PeftAdapter {
    public static final String SAFETENSORS = "adapter_model.safetensors";
    /** Changes whenever the converter writes different bytes for the same input: old cache entries are not reused. */
    static final String FORMAT = "molora-peft-1";
    public static final String KEY_SOURCE = "molora.peft.source";
    public static final String KEY_DATA_SHA256 = "molora.peft.data_sha256";

    /** One LoRA pair as it will be written. */
    record Pair(String peftModule, String target, Safetensors.Tensor a, Safetensors.Tensor b, int permuteHeads) {
        long rank() {
            return a.shape()[0];
        }
    }

    private final Path dir;
    private final PeftConfig config;
    private final Safetensors weights;
    private final PeftArchitecture architecture;
    private final List<Pair> pairs;
    private final String key;

    private PeftAdapter(Path dir, PeftConfig config, Safetensors weights, PeftArchitecture architecture,
            List<Pair> pairs, String key) {
        this.dir = dir;
        this.config = config;
        this.weights = weights;
        this.architecture = architecture;
        this.pairs = List.copyOf(pairs);
        this.key = key;
    }

    /** Whether {@code path} names a directory: a PEFT adapter, not a GGUF file. */
    public static boolean isDirectory(Path path) {
        return Files.isDirectory(path);
    }

    /**
     * Reads and checks the adapter in {@code dir} for the base model {@code base} (its architecture, and for llama its
     * head counts): config, tensor names, pairs and shapes; nothing is written.
     *
     * @throws PeftException in one line naming the file or tensor and what to do
     */
    public static PeftAdapter read(Path dir, GgufFile base) throws IOException {
        Path configFile = dir.resolve(PeftConfig.FILE);
        Path weightsFile = dir.resolve(SAFETENSORS);
        if (!Files.isRegularFile(configFile)) {
            throw new PeftException("PEFT adapter directory " + dir + " has no " + PeftConfig.FILE
                    + " (a LoRA saved by peft's save_pretrained has it and " + SAFETENSORS + ")");
        }
        if (!Files.isRegularFile(weightsFile)) {
            throw new PeftException("PEFT adapter directory " + dir + " has no " + SAFETENSORS
                    + (Files.exists(dir.resolve("adapter_model.bin"))
                    ? " (adapter_model.bin, a pickle, is not read: save with safe_serialization=True)" : ""));
        }
        String arch;
        try {
            arch = base.string("general.architecture").orElse("");
        } catch (GgufFormatException e) {
            throw new PeftException("base model " + base.source() + ": " + e.getMessage(), e);
        }
        PeftArchitecture architecture = PeftArchitecture.of(arch).orElseThrow(() -> new PeftException(
                "PEFT adapter " + dir + ": molora converts adapters for " + PeftArchitecture.names()
                        + " base models; this base is '" + arch + "' (convert it with llama.cpp's "
                        + "convert_lora_to_gguf.py and give the .gguf)"));
        PeftConfig config = PeftConfig.read(configFile);
        Safetensors weights = Safetensors.open(weightsFile);
        long heads = 0;
        long kvHeads = 0;
        if (architecture.permutesQk()) {
            try {
                heads = base.integer(arch + ".attention.head_count").orElse(0L);
                kvHeads = base.integer(arch + ".attention.head_count_kv").orElse(heads);
            } catch (GgufFormatException e) {
                throw new PeftException("base model " + base.source() + ": " + e.getMessage(), e);
            }
            if (heads <= 0 || kvHeads <= 0) {
                throw new PeftException("base model " + base.source() + " has no " + arch
                        + ".attention.head_count: q_proj and k_proj cannot be permuted for its RoPE");
            }
        }
        List<Pair> pairs = pairs(dir, weights, architecture, (int) heads, (int) kvHeads);
        String key = cacheKey(configFile, weightsFile, architecture, heads, kvHeads);
        return new PeftAdapter(dir, config, weights, architecture, pairs, key);
    }

    private static List<Pair> pairs(Path dir, Safetensors weights, PeftArchitecture arch, int heads, int kvHeads) {
        Path file = weights.path();
        // base tensor name → [A, B, peft module], in the order of first appearance (get_tensors' tensor_map)
        Map<String, Object[]> byTarget = new LinkedHashMap<>();
        for (Safetensors.Tensor t : weights.tensors()) {
            String name = t.name();
            if (name.contains("lora_magnitude_vector")) {
                throw new PeftException(file + ": tensor " + name + " is a DoRA magnitude vector; llama.cpp has no "
                        + "DoRA: merge the adapter into the base with peft's merge_and_unload instead");
            }
            if (name.contains(".lora_embedding_A") || name.contains(".lora_embedding_B")) {
                throw new PeftException(file + ": tensor " + name + " is a LoRA of the token embeddings "
                        + "(embed_tokens), which molora does not convert: convert it with convert_lora_to_gguf.py");
            }
            if (skipped(baseName(name), arch)) {
                continue;
            }
            String base = filtered(baseName(name), arch);
            boolean isA = name.contains(".lora_A.weight");
            boolean isB = name.contains(".lora_B.weight");
            if (!isA && !isB) {
                if (name.contains(".base_layer.weight") || name.contains("_layernorm") || name.contains(".norm")) {
                    continue;  // the base's own weight; a norm, which llama.cpp ignores in an adapter
                }
                throw new PeftException(file + ": tensor " + name + " is not a lora_A or lora_B tensor"
                        + (name.contains(".embed_tokens.weight") || name.contains(".lm_head.weight")
                        ? " (whole embeddings: new tokens added in fine-tuning, which a llama.cpp adapter cannot hold)"
                        : ""));
            }
            String target = arch.map(base).orElseThrow(() -> new PeftException(file + ": tensor " + name + ": module "
                    + module(base) + " has no llama.cpp tensor in architecture " + arch.ggufName()
                    + " (convert_hf_to_gguf.py: cannot map " + base + "); train without it"));
            if (t.shape().length != 2) {
                throw new PeftException(file + ": tensor " + name + " has shape " + java.util.Arrays.toString(t.shape())
                        + "; a LoRA matrix has two dimensions");
            }
            Object[] ab = byTarget.computeIfAbsent(target, k -> new Object[3]);
            if (ab[2] != null && !ab[2].equals(module(base))) {
                throw new PeftException(file + ": modules " + ab[2] + " and " + module(base) + " both adapt llama.cpp's "
                        + target + "; keep one");
            }
            ab[2] = module(base);
            ab[isA ? 0 : 1] = t;
        }
        if (byTarget.isEmpty()) {
            throw new PeftException(file + " holds no LoRA tensors (lora_A / lora_B) for a " + arch.ggufName()
                    + " model");
        }
        List<Pair> pairs = new ArrayList<>();
        for (Map.Entry<String, Object[]> e : byTarget.entrySet()) {
            Object[] ab = e.getValue();
            String module = (String) ab[2];
            if (ab[0] == null || ab[1] == null) {
                throw new PeftException(file + ": module " + module + " has no " + (ab[0] == null ? "lora_A" : "lora_B")
                        + " tensor (a LoRA needs both)");
            }
            Safetensors.Tensor a = (Safetensors.Tensor) ab[0];
            Safetensors.Tensor b = (Safetensors.Tensor) ab[1];
            if (a.shape()[0] != b.shape()[1]) {
                throw new PeftException(file + ": module " + module + ": lora_A " + java.util.Arrays.toString(a.shape())
                        + " and lora_B " + java.util.Arrays.toString(b.shape()) + " disagree on the rank");
            }
            int permute = 0;
            if (arch.permutesQk() && (module.endsWith("self_attn.q_proj") || module.endsWith("self_attn.k_proj"))) {
                // LlamaModel.permute(w, n_head, n_head_kv): q with n_head, k with n_head_kv
                permute = module.endsWith("q_proj") ? heads : kvHeads;
                if (b.shape()[0] % (2L * permute) != 0) {
                    throw new PeftException(file + ": module " + module + ": lora_B has " + b.shape()[0] + " rows, not "
                            + "a whole number of head pairs for " + permute + " heads: trained for another base model?");
                }
            }
            pairs.add(new Pair(module, e.getKey(), a, b, permute));
        }
        return pairs;
    }

    /** convert_lora_to_gguf.py get_base_tensor_name. */
    static String baseName(String name) {
        return name.replace("base_model.model.", "")
                .replace(".lora_A.weight", ".weight")
                .replace(".lora_B.weight", ".weight")
                .replace(".lora_embedding_A", ".weight")
                .replace(".lora_embedding_B", ".weight");
    }

    /** TextModel.filter_tensors: the multimodal towers it skips (returns None for). */
    private static boolean skipped(String name, PeftArchitecture arch) {
        // LlamaModel.filter_tensors renames text_model. first; ModelBase's renames come after TextModel's check
        String n = arch == PeftArchitecture.LLAMA ? name.replace("text_model.", "") : name;
        for (String p : List.of("mlp", "vit.", "vpm.", "siglip2.", "conformer.", "merger.", "resampler.",
                "sound_encoder.", "sound_projection.", "speech_embeddings.")) {
            if (n.startsWith(p)) {
                return true;
            }
        }
        for (String s : List.of("visual.", "vision.", "audio.", "talker.", "vision_", "audio_", "token2wav.",
                "code2wav.", "projector.", "pre_mm_projector_norm", "image_newline", "view_seperator", "patch_embed",
                "patch_embedding", "patch_merger.", "patch_merge_mlp.", "model.connector.")) {
            if (n.contains(s)) {
                return true;
            }
        }
        return false;
    }

    /** The renames of LlamaModel.filter_tensors ({@code text_model.}) and ModelBase.filter_tensors. */
    private static String filtered(String name, PeftArchitecture arch) {
        String n = arch == PeftArchitecture.LLAMA ? name.replace("text_model.", "") : name;
        if (n.endsWith("e_score_correction_bias")) {
            n = n.replace("e_score_correction_bias", "e_score_correction.bias");
        }
        return n.replace("language_model.", "");
    }

    private static String module(String weightName) {
        return weightName.endsWith(".weight") ? weightName.substring(0, weightName.length() - ".weight".length())
                : weightName;
    }

    /**
     * The cache key: sha256 over the converter's format, the base's architecture (and for llama its head counts, which
     * the permutation uses) and the sha256 of each of the two files ({@link RouterFile#sha256}, the one file hash).
     */
    static String cacheKey(Path config, Path weights, PeftArchitecture arch, long heads, long kvHeads)
            throws IOException {
        MessageDigest d = sha256();
        d.update((FORMAT + "\0" + arch.ggufName() + "\0" + heads + "\0" + kvHeads + "\0")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        for (Path p : List.of(config, weights)) {
            d.update(HexFormat.of().parseHex(RouterFile.sha256(p)));  // each file's own sha256, as raw bytes
        }
        return HexFormat.of().formatHex(d.digest());
    }

    public Path directory() {
        return dir;
    }

    public PeftConfig config() {
        return config;
    }

    public PeftArchitecture architecture() {
        return architecture;
    }

    /** The cache key of this directory's two files for this base (a sha256, hex). */
    public String key() {
        return key;
    }

    /** The llama.cpp tensors adapted, in file order ({@code blk.0.attn_q.weight}, ...). */
    public List<String> targets() {
        return pairs.stream().map(Pair::target).toList();
    }

    /**
     * Writes the GGUF adapter to {@code out} (a new file: the caller's temporary file), F32. The tensors are converted
     * one at a time, twice: once for the data hash the header carries, once to write them.
     */
    public void write(Path out) throws IOException {
        MessageDigest data = sha256();
        for (Pair p : pairs) {
            data.update(bytes(p, true));
            data.update(bytes(p, false));
        }
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", architecture.ggufName());
        w.put("general.type", "adapter");
        w.put("adapter.type", "lora");
        w.put("adapter.lora.alpha", GgufValue.of(config.alpha()));
        if (config.aloraInvocationTokens() != null && config.aloraInvocationTokens().length > 0) {
            w.put("adapter.alora_invocation_tokens", GgufValue.of(new GgufArray(GgufValueType.UINT32,
                    config.aloraInvocationTokens())));
        }
        w.put("general.quantization_version", GgufValue.ofUint32(2));
        w.put(KEY_SOURCE, key);
        w.put(KEY_DATA_SHA256, HexFormat.of().formatHex(data.digest()));
        for (Pair p : pairs) {
            long[] a = p.a().shape();
            long[] b = p.b().shape();
            w.addTensor(p.target() + ".lora_a", GgmlType.F32, new long[] {a[1], a[0]},
                    sink -> sink.write(ByteBuffer.wrap(bytes(p, true))));
            w.addTensor(p.target() + ".lora_b", GgmlType.F32, new long[] {b[1], b[0]},
                    sink -> sink.write(ByteBuffer.wrap(bytes(p, false))));
        }
        w.write(out);
    }

    /** One tensor's F32 bytes as written: lora_A as stored, lora_B with the q/k row permutation where it applies. */
    private byte[] bytes(Pair p, boolean a) throws IOException {
        float[] v = weights.floats(a ? p.a() : p.b());
        if (!a && p.permuteHeads() > 0) {
            v = permuteRows(v, (int) p.b().shape()[0], (int) p.b().shape()[1], p.permuteHeads());
        }
        ByteBuffer buf = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(v);
        return buf.array();
    }

    /**
     * LlamaModel.permute on a {@code rows x cols} matrix: {@code reshape(n_head, 2, rows / n_head / 2, cols)
     * .swapaxes(1, 2).reshape(rows, cols)} — within each head, row {@code i * 2 + j} of the result is row
     * {@code j * half + i} of the input.
     */
    static float[] permuteRows(float[] v, int rows, int cols, int heads) {
        int perHead = rows / heads;
        int half = perHead / 2;
        float[] out = new float[v.length];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < half; i++) {
                for (int j = 0; j < 2; j++) {
                    int to = h * perHead + i * 2 + j;
                    int from = h * perHead + j * half + i;
                    System.arraycopy(v, from * cols, out, to * cols, cols);
                }
            }
        }
        return out;
    }

    /**
     * Checks the written adapter against the base as llama.cpp will ({@link LoraCompatibility#check}); a
     * {@link PeftException} naming the directory, the PEFT module and the first problem.
     */
    public void checkFits(GgufFile base, Path written) throws IOException {
        List<LoraCompatibility.Problem> problems;
        try (GgufFile adapter = GgufFile.open(written)) {
            problems = LoraCompatibility.check(base, adapter);
        }
        if (problems.isEmpty()) {
            return;
        }
        LoraCompatibility.Problem first = problems.get(0);
        String module = pairs.stream().filter(p -> p.target().equals(first.tensor())).map(Pair::peftModule)
                .findFirst().orElse("");
        String what = first.tensor().equals("output.weight") && base.tensor("output.weight").isEmpty()
                ? "lm_head is adapted, but this base ties its output to the token embeddings (it has no "
                        + "output.weight), so llama.cpp has no output matrix to adapt; train without lm_head"
                : (module.isEmpty() ? "" : module + " (" + first.tensor() + "): ") + first.message();
        throw new PeftException("PEFT adapter " + dir + " does not fit base model " + Path.of(base.source()).getFileName()
                + ": " + what + (problems.size() > 1 ? " (and " + (problems.size() - 1) + " more problem(s))" : "")
                + "; was it trained for another base model?");
    }

    /**
     * Whether {@code entry} is a conversion this converter wrote for {@code key}, whole: a GGUF file whose
     * {@code molora.peft.source} is the key and whose tensor data hash to its {@code molora.peft.data_sha256}.
     * Anything else (missing, truncated, edited, another key) is not trusted; the reason, or empty when it is.
     */
    public static Optional<String> verify(Path entry, String key) {
        if (!Files.isRegularFile(entry)) {
            return Optional.of("missing");
        }
        try (GgufFile f = GgufFile.open(entry)) {
            if (!f.string(KEY_SOURCE).orElse("").equals(key)) {
                return Optional.of("written for other files");
            }
            String want = f.string(KEY_DATA_SHA256).orElse("");
            MessageDigest d = sha256();
            for (GgufTensorInfo t : f.tensors()) {
                d.update(f.tensorData(t).asByteBuffer());
            }
            return HexFormat.of().formatHex(d.digest()).equals(want) ? Optional.empty()
                    : Optional.of("its tensor data do not match their hash");
        } catch (NoSuchFileException e) {
            return Optional.of("missing");
        } catch (IOException | RuntimeException e) {
            return Optional.of("not a valid GGUF file (" + e.getMessage() + ")");
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
