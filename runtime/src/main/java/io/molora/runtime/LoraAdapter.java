package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

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
     * Loads an adapter file made by llama.cpp's convert_lora_to_gguf.py (or molora's writer). Callers that can
     * should check it against the base model with the gguf module first: llama.cpp only logs why it refuses.
     */
    public static LoraAdapter load(Model model, String name, Path path) {
        Model.checkGgufFile(path, "adapter '" + name + "'");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment adapter = llama_adapter_lora_init(model.pointer(), arena.allocateFrom(path.toString()));
            if (adapter.equals(MemorySegment.NULL)) {
                throw new LlamaException("llama.cpp refused adapter '" + name + "' (" + path
                        + "): it does not fit the model; `molora inspect " + path + " --model BASE` says why");
            }
            return new LoraAdapter(model, adapter, name, path);
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
