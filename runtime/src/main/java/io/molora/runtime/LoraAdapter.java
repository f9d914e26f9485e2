package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import io.molora.gguf.AdapterInfo;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.LoraCompatibility;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
    private final AdapterInfo.Kind kind;

    private LoraAdapter(Model model, MemorySegment adapter, String name, Path path, AdapterInfo.Kind kind) {
        this.model = model;
        this.handle = new NativeHandle("adapter " + name, adapter, a -> {
            llama_adapter_lora_free(a);
            model.dependentClosed();  // the model may close once its last dependent is gone
        });
        this.name = name;
        this.path = path;
        this.kind = kind;
        model.dependentOpened();
    }

    /**
     * Loads an adapter file made by llama.cpp's convert_lora_to_gguf.py (or molora's writer), after checking it
     * against the base model's file with {@link LoraCompatibility} (llama.cpp only logs why it refuses, and aborts
     * on some metadata types).
     */
    public static LoraAdapter load(Model model, String name, Path path) {
        return load(model, name, path, null);
    }

    /**
     * {@link #load(Model, String, Path)}; a SAMoRA adapter applies the scale of {@code samoraTask}, one of the names
     * in its {@code adapter.samora.tasks} ({@code null}: the authors' rule for a task it was not trained on). Other
     * adapters ignore the task.
     */
    public static LoraAdapter load(Model model, String name, Path path, String samoraTask) {
        AdapterInfo info = fits(model.path(), name, path);
        AdapterInfo.Kind kind = info.kind().orElse(AdapterInfo.Kind.LORA);
        int task = kind == AdapterInfo.Kind.SAMORA ? taskIndex(name, info, samoraTask) : -1;
        LoraAdapter adapter = loadUnchecked(model, name, path, kind);
        if (kind == AdapterInfo.Kind.SAMORA && llama_adapter_samora_set_task(adapter.pointer(), task) != 0) {
            adapter.close();
            throw new LlamaException("llama.cpp refused task " + task + " of SAMoRA adapter '" + name + "'");
        }
        return adapter;
    }

    private static int taskIndex(String name, AdapterInfo info, String task) {
        if (task == null) {
            return -1;
        }
        int i = info.tasks().indexOf(task);
        if (i < 0) {
            throw new IllegalArgumentException("SAMoRA adapter '" + name + "' has no task '" + task + "' (its tasks: "
                    + (info.tasks().isEmpty() ? "none named" : String.join(", ", info.tasks())) + ")");
        }
        return i;
    }

    /** The native load alone, for tests that show what {@link #checkFits} prevents. */
    static LoraAdapter loadUnchecked(Model model, String name, Path path) {
        AdapterInfo.Kind kind;
        try (GgufFile f = GgufFile.open(path)) {
            kind = AdapterInfo.of(f).kind().orElse(AdapterInfo.Kind.LORA);
        } catch (IOException e) {
            kind = AdapterInfo.Kind.LORA;  // llama.cpp refuses what cannot be read
        }
        return loadUnchecked(model, name, path, kind);
    }

    private static LoraAdapter loadUnchecked(Model model, String name, Path path, AdapterInfo.Kind kind) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment adapter = llama_adapter_lora_init(model.pointer(), arena.allocateFrom(path.toString()));
            if (adapter.equals(MemorySegment.NULL)) {
                throw new LlamaException("llama.cpp refused adapter '" + name + "' (" + path
                        + "): it does not fit the model; `molora inspect " + path + " --model BASE` says why");
            }
            return new LoraAdapter(model, adapter, name, path, kind);
        }
    }

    /** Fails with a one-line message naming the first problem unless the adapter file fits the base model's file. */
    public static void checkFits(Path base, String name, Path path) {
        fits(base, name, path);
    }

    /** {@link #checkFits}, returning what the file declares. */
    private static AdapterInfo fits(Path base, String name, Path path) {
        Model.checkGgufFile(path, "adapter '" + name + "'");
        try (GgufFile baseFile = GgufFile.open(base); GgufFile adapter = GgufFile.open(path)) {
            List<LoraCompatibility.Problem> problems = LoraCompatibility.check(baseFile, adapter);
            if (!problems.isEmpty()) {
                throw new LlamaException("adapter '" + name + "' (" + path + ") does not fit model " + base.getFileName()
                        + ": " + problems.get(0)
                        + (problems.size() > 1 ? " (and " + (problems.size() - 1) + " more problem(s))" : ""));
            }
            return AdapterInfo.of(adapter);
        } catch (GgufFormatException e) {
            throw new LlamaException("adapter '" + name + "' is not valid GGUF: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new LlamaException("cannot read adapter '" + name + "': " + e.getMessage(), e);
        }
    }

    /**
     * The bytes the copies {@link Context#setRouting} makes of {@code adapters} (at {@code scales}, with
     * {@code params}) take on each device, as llama.cpp computes them without making them: element i is for device i
     * of {@link Devices#list()}. The adapters' own tensors are not included. {@code model} may be a
     * {@link ModelParams#noAlloc() metadata-only} load, so that this runs before the weights are loaded.
     */
    public static long[] routedCopyBytes(Model model, List<LoraAdapter> adapters, float[] scales, RoutingParams params) {
        if (!Context.routingSupported()) {
            throw new LlamaException("this llama.cpp build lacks molora's per-token routing patch");
        }
        checkRoutable(model, adapters, scales);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ptrs = arena.allocate(ValueLayout.ADDRESS, Math.max(1, adapters.size()));
            for (int i = 0; i < adapters.size(); i++) {
                ptrs.setAtIndex(ValueLayout.ADDRESS, i, adapters.get(i).pointer());
            }
            int devices = (int) ggml_backend_dev_count();
            MemorySegment bytes = arena.allocate(ValueLayout.JAVA_LONG, Math.max(1, devices));
            int rc = llama_lora_routing_bytes(model.pointer(), ptrs, arena.allocateFrom(ValueLayout.JAVA_FLOAT, scales),
                    adapters.size(), params.toNative(arena), bytes, devices);
            if (rc != 0) {
                throw routingError(rc, adapters.size());
            }
            return devices == 0 ? new long[0] : bytes.toArray(ValueLayout.JAVA_LONG);
        }
    }

    /** What llama.cpp would refuse before any native call: adapters of another model, mismatched scales. */
    static void checkRoutable(Model model, List<LoraAdapter> adapters, float[] scales) {
        if (adapters.size() != scales.length) {
            throw new IllegalArgumentException(adapters.size() + " adapters but " + scales.length + " scales");
        }
        for (LoraAdapter a : adapters) {
            if (a.model() != model) {
                throw new IllegalArgumentException("adapter '" + a.name() + "' was loaded for another model");
            }
            if (a.gated()) {
                throw new IllegalArgumentException("adapter '" + a.name() + "' is a " + a.kind.label()
                        + " adapter, gated per token inside the graph: per-token routing (a router, or several adapters per request) applies "
                        + "plain LoRA adapters only; use it alone (--adapter " + a.name() + ", or as the only --lora)");
            }
        }
    }

    /** The error of a llama_set_lora_routing / llama_lora_routing_bytes return code (see llama.h); llama.cpp logs the detail. */
    static LlamaException routingError(int rc, int adapters) {
        String why = switch (rc) {
            case -1 -> "invalid arguments";
            case -2 -> "an adapter targets tensors per-token routing cannot apply (MoE experts, a non-2-D weight, "
                    + "an unsupported type)";
            case -3 -> "the routed copies or the graph's buffers could not be allocated";
            case -4 -> "this model's graph applies an adapted weight to an unexpected set of rows, which routing "
                    + "cannot cover";
            default -> "unknown error";
        };
        return new LlamaException("llama.cpp refused to route these " + adapters + " adapter(s): " + why
                + " (code " + rc + "; llama.cpp's log names the tensor)");
    }

    public String name() {
        return name;
    }

    /** A mixture (CoMoL, SAMoRA) whose gate llama.cpp computes per token itself (patches 0011, 0012). */
    public boolean gated() {
        return kind.gated();
    }

    /** A SAMoRA adapter ({@code adapter.type = samora}, patch 0012). */
    public boolean samora() {
        return kind == AdapterInfo.Kind.SAMORA;
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
