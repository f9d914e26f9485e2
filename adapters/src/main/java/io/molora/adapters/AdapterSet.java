package io.molora.adapters;

import io.molora.runtime.Context;
import io.molora.runtime.LlamaException;
import io.molora.runtime.LoraAdapter;
import io.molora.runtime.Model;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Router;
import io.molora.runtime.RoutingForm;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Several LoRA adapters loaded for one model, by name. Each file is checked against the base model with the pure-Java
 * GGUF reader before llama.cpp sees it ({@link LoraAdapter#checkFits}); if any adapter does not fit, none is loaded.
 * Adapter {@code i} of the set is route id {@code i}.
 */
public final class AdapterSet implements AutoCloseable {
    private final List<AdapterSpec> specs;
    private final List<LoraAdapter> adapters;

    private AdapterSet(List<AdapterSpec> specs, List<LoraAdapter> adapters) {
        this.specs = List.copyOf(specs);
        this.adapters = List.copyOf(adapters);
    }

    /** Loads every adapter, each validated against {@code model}'s file first; all of them or none. */
    public static AdapterSet load(Model model, List<AdapterSpec> specs) {
        Set<String> names = new HashSet<>();
        for (AdapterSpec s : specs) {
            if (!names.add(s.name())) {
                throw new IllegalArgumentException("adapter name '" + s.name() + "' is given twice");
            }
        }
        // LoraAdapter.load checks each file against the base model before llama.cpp sees it
        List<LoraAdapter> loaded = new ArrayList<>();
        try {
            for (AdapterSpec s : specs) {
                loaded.add(LoraAdapter.load(model, s.name(), s.path(), s.task()));
            }
            if (specs.stream().anyMatch(s -> s.task() != null) && loaded.stream().noneMatch(LoraAdapter::samora)) {
                throw new IllegalArgumentException("a SAMoRA task is given (--samora-task) but none of the adapters "
                        + "is a SAMoRA adapter");
            }
        } catch (RuntimeException e) {
            loaded.forEach(LoraAdapter::close);
            throw e;
        }
        return new AdapterSet(specs, loaded);
    }

    public int size() {
        return adapters.size();
    }

    public List<String> names() {
        return specs.stream().map(AdapterSpec::name).toList();
    }

    /** Route id of the named adapter; "none"/"base" is {@link io.molora.runtime.RouteTable#NONE}. */
    public int index(String name) {
        if (name.equals("none") || name.equals("base")) {
            return io.molora.runtime.RouteTable.NONE;
        }
        for (int i = 0; i < specs.size(); i++) {
            if (specs.get(i).name().equals(name)) {
                return i;
            }
        }
        throw new IllegalArgumentException("no adapter named '" + name + "' (loaded: "
                + specs.stream().map(AdapterSpec::name).collect(Collectors.joining(", ")) + ")");
    }

    public List<AdapterSpec> specs() {
        return specs;
    }

    public List<LoraAdapter> adapters() {
        return adapters;
    }

    public float[] scales() {
        float[] s = new float[specs.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = specs.get(i).scale();
        }
        return s;
    }

    /** A decoder that routes this set's adapters on {@code context} by {@code router} (in-graph when the patch is there). */
    public RoutedDecoder decoder(Context context, Router router) {
        return decoder(context, router, RoutingForm.AUTO);
    }

    /** The same, with llama.cpp applying the adapters in {@code form}. */
    public RoutedDecoder decoder(Context context, Router router, RoutingForm form) {
        return new RoutedDecoder(context, adapters, scales(), router, form);
    }

    @Override
    public void close() {
        adapters.forEach(LoraAdapter::close);
    }
}
