package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import io.molora.bindings.llama.llama_model_params;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.ModelCheck;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loaded GGUF model ({@code llama_model *}). Owns the native model; closing it while contexts or adapters made
 * from it are still open is refused, since they point into it.
 */
public final class Model implements AutoCloseable {
    private final NativeHandle handle;
    private final Path path;
    private final Tokenizer tokenizer;
    /** Contexts and adapters made from this model: they point into it, so it must outlive them. */
    private final AtomicInteger dependents = new AtomicInteger();

    private Model(MemorySegment model, Path path) {
        this.handle = new NativeHandle("model " + path.getFileName(), model, m -> llama_model_free(m));
        this.path = path;
        // const struct llama_vocab * — owned by the model, valid as long as it is
        this.tokenizer = new Tokenizer(this, llama_model_get_vocab(model));
    }

    /**
     * Loads a model. The file is checked first ({@link #checkModelFile}) so that a broken or hostile file gives a
     * clear message instead of a native failure or a llama.cpp assertion that would end the process.
     */
    public static Model load(Path path, ModelParams params) {
        checkModelFile(path, params.vocabOnly());
        return loadUnchecked(path, params);
    }

    /** The native load alone, for tests that show what {@link #checkModelFile} prevents. */
    static Model loadUnchecked(Path path, ModelParams params) {
        Backend.init();
        try (Arena arena = Arena.ofConfined()) {
            // struct llama_model_params
            MemorySegment p = llama_model_default_params(arena);
            llama_model_params.n_gpu_layers(p, params.gpuLayers());
            // a no_alloc load maps nothing (llama.cpp asserts it is not asked to map), as llama_params_fit's pass
            boolean mmap = params.useMmap() && !params.noAlloc();
            llama_model_params.load_mode(p, mmap ? LLAMA_LOAD_MODE_MMAP() : LLAMA_LOAD_MODE_NONE());
            llama_model_params.vocab_only(p, params.vocabOnly());
            llama_model_params.no_alloc(p, params.noAlloc());
            llama_model_params.use_extra_bufts(p, Backend.extraBufferTypes());
            // struct llama_model *
            MemorySegment model = llama_model_load_from_file(arena.allocateFrom(path.toString()), p);
            if (model.equals(MemorySegment.NULL)) {
                throw new LlamaException("llama.cpp could not load model " + path
                        + " (unsupported architecture or damaged file; run `molora inspect` on it for details)");
            }
            return new Model(model, path);
        }
    }

    /**
     * Fails with a one-line message naming the key and its value unless llama.cpp can load {@code path} without
     * aborting the process: the whole file parses as GGUF (header, metadata, tensor table, data bounds) and its
     * metadata passes {@link ModelCheck}.
     */
    public static void checkModelFile(Path path) {
        checkModelFile(path, false);
    }

    /** {@link #checkModelFile(Path)}, or for a vocabulary-only load just the architecture and the tokenizer. */
    public static void checkModelFile(Path path, boolean vocabOnly) {
        checkGgufFile(path, "model");
        try (GgufFile file = GgufFile.open(path)) {
            List<ModelCheck.Problem> problems = vocabOnly ? ModelCheck.checkVocabulary(file) : ModelCheck.check(file);
            if (!problems.isEmpty()) {
                throw new LlamaException("model " + path + " cannot be loaded: " + problems.get(0)
                        + (problems.size() > 1 ? " (and " + (problems.size() - 1) + " more problem(s); `molora inspect "
                        + path + "` lists them)" : ""));
            }
        } catch (GgufFormatException e) {
            throw new LlamaException("model file " + path + " is not valid GGUF: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new LlamaException("cannot read model file " + path + ": " + e.getMessage(), e);
        }
    }

    /** Fails with a one-line message unless {@code path} is a readable file starting with the GGUF magic. */
    public static void checkGgufFile(Path path, String role) {
        if (!Files.exists(path)) {
            throw new LlamaException(role + " file not found: " + path);
        }
        if (!Files.isRegularFile(path) || !Files.isReadable(path)) {
            throw new LlamaException(role + " path is not a readable file: " + path);
        }
        byte[] magic = new byte[4];
        try (InputStream in = Files.newInputStream(path)) {
            if (in.readNBytes(magic, 0, 4) != 4 || magic[0] != 'G' || magic[1] != 'G' || magic[2] != 'U' || magic[3] != 'F') {
                throw new LlamaException(role + " file is not GGUF (no GGUF magic at offset 0): " + path);
            }
        } catch (IOException e) {
            throw new LlamaException("cannot read " + role + " file " + path + ": " + e.getMessage(), e);
        }
    }

    public Path path() {
        return path;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public int contextLengthTrained() {
        return llama_model_n_ctx_train(pointer());
    }

    public int embeddingSize() {
        return llama_model_n_embd(pointer());
    }

    public int layerCount() {
        return llama_model_n_layer(pointer());
    }

    public long parameterCount() {
        return llama_model_n_params(pointer());
    }

    public long sizeBytes() {
        return llama_model_size(pointer());
    }

    public String description() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(256);
            int n = llama_model_desc(pointer(), buf, buf.byteSize());
            return n < 0 ? "" : buf.getString(0);
        }
    }

    /** A metadata value as llama.cpp formats it, if the key exists. */
    public Optional<String> metadata(String key) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocateFrom(key);
            int n = llama_model_meta_val_str(pointer(), k, MemorySegment.NULL, 0);
            if (n < 0) {
                return Optional.empty();
            }
            MemorySegment buf = arena.allocate(n + 1L);
            llama_model_meta_val_str(pointer(), k, buf, buf.byteSize());
            return Optional.of(buf.getString(0));
        }
    }

    /**
     * The width of one attention head for keys ({@code k = true}) or values, as llama.cpp reads it: the
     * architecture's {@code attention.key_length} / {@code value_length}, else n_embd / n_head. Empty when the
     * metadata does not say it in one number (per-layer head counts).
     */
    public OptionalInt headSize(boolean k) {
        try {
            String arch = metadata("general.architecture").orElse("");
            Optional<String> explicit = metadata(arch + ".attention." + (k ? "key_length" : "value_length"));
            if (explicit.isPresent()) {
                return OptionalInt.of(Integer.parseInt(explicit.get().trim()));
            }
            int heads = Integer.parseInt(metadata(arch + ".attention.head_count").orElse("").trim());
            return heads > 0 ? OptionalInt.of(embeddingSize() / heads) : OptionalInt.empty();
        } catch (NumberFormatException e) {
            return OptionalInt.empty();
        }
    }

    /** The default chat template from the GGUF metadata ({@code tokenizer.chat_template}), if any. */
    public Optional<String> chatTemplate() {
        MemorySegment t = llama_model_chat_template(pointer(), MemorySegment.NULL);
        return t.equals(MemorySegment.NULL) ? Optional.empty() : Optional.of(t.reinterpret(Long.MAX_VALUE).getString(0));
    }

    /** {@code struct llama_model *}; for this package's classes only. */
    MemorySegment pointer() {
        return handle.get();
    }

    void dependentOpened() {
        dependents.incrementAndGet();
    }

    void dependentClosed() {
        dependents.decrementAndGet();
    }

    public boolean isOpen() {
        return handle.isOpen();
    }

    @Override
    public void close() {
        if (!handle.isOpen()) {
            return;
        }
        int open = dependents.get();
        if (open > 0) {
            throw new IllegalStateException("model " + path.getFileName() + " still has " + open
                    + " open context(s) or adapter(s); close them first");
        }
        handle.release();
    }
}
