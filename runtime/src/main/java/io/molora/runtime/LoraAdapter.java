package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.LoraCompatibility;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;

/**
 * A LoRA adapter loaded for a model ({@code struct llama_adapter_lora *}). llama.cpp frees adapters with their model,
 * so an adapter must be closed before its model (the model refuses to close while adapters are open).
 */
public final class LoraAdapter implements AutoCloseable {
    private final Model model;
    private final NativeHandle handle;
    private final String name;
    private final Path path;

    private LoraAdapter(Model model, MemorySegment adapter, String name, Path path) {
        this.model = model;
        this.handle = new NativeHandle("adapter " + name, adapter, a -> {
            llama_adapter_lora_free(a);
            model.dependentClosed();  // the model may close once its last dependent is gone
        });
        this.name = name;
        this.path = path;
        model.dependentOpened();
    }

    /**
     * Loads an adapter file made by llama.cpp's convert_lora_to_gguf.py (or molora's writer), after checking it
     * against the base model's file with {@link LoraCompatibility} (llama.cpp only logs why it refuses, and aborts
     * on some metadata types).
     */
    public static LoraAdapter load(Model model, String name, Path path) {
        checkFits(model.path(), name, path);
        return loadUnchecked(model, name, path);
    }

    /** The native load alone, for tests that show what {@link #checkFits} prevents. */
    static LoraAdapter loadUnchecked(Model model, String name, Path path) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment adapter = llama_adapter_lora_init(model.pointer(), arena.allocateFrom(path.toString()));
            if (adapter.equals(MemorySegment.NULL)) {
                throw new LlamaException("llama.cpp refused adapter '" + name + "' (" + path
                        + "): it does not fit the model; `molora inspect " + path + " --model BASE` says why");
            }
            return new LoraAdapter(model, adapter, name, path);
        }
    }

    /** Fails with a one-line message naming the first problem unless the adapter file fits the base model's file. */
    public static void checkFits(Path base, String name, Path path) {
        Model.checkGgufFile(path, "adapter '" + name + "'");
        try (GgufFile baseFile = GgufFile.open(base); GgufFile adapter = GgufFile.open(path)) {
            List<LoraCompatibility.Problem> problems = LoraCompatibility.check(baseFile, adapter);
            if (!problems.isEmpty()) {
                throw new LlamaException("adapter '" + name + "' (" + path + ") does not fit model " + base.getFileName()
                        + ": " + problems.get(0)
                        + (problems.size() > 1 ? " (and " + (problems.size() - 1) + " more problem(s))" : ""));
            }
        } catch (GgufFormatException e) {
            throw new LlamaException("adapter '" + name + "' is not valid GGUF: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new LlamaException("cannot read adapter '" + name + "': " + e.getMessage(), e);
        }
    }

    public String name() {
        return name;
    }

    public Path path() {
        return path;
    }

    public Model model() {
        return model;
    }

    /** {@code struct llama_adapter_lora *}; for this package's classes only. */
    MemorySegment pointer() {
        return handle.get();
    }

    public boolean isOpen() {
        return handle.isOpen();
    }

    @Override
    public void close() {
        handle.release();
    }
}
