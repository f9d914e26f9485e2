package io.molora.adapters;

import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.LoraCompatibility;
import io.molora.runtime.Context;
import io.molora.runtime.LlamaException;
import io.molora.runtime.LoraAdapter;
import io.molora.runtime.Model;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Router;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Several LoRA adapters loaded for one model, by name. Each file is checked against the base model with the pure-Java
 * GGUF reader before llama.cpp sees it; if any adapter does not fit, none is loaded. Adapter {@code i} of the set is
 * route id {@code i}.
 */
public final class AdapterSet implements AutoCloseable {
    private final List<AdapterSpec> specs;
    private final List<LoraAdapter> adapters;

    private AdapterSet(List<AdapterSpec> specs, List<LoraAdapter> adapters) {
        this.specs = List.copyOf(specs);
        this.adapters = List.copyOf(adapters);
    }

    /** Validates every adapter against {@code model}'s file, then loads them all (or none). */
    public static AdapterSet load(Model model, List<AdapterSpec> specs) {
        Set<String> names = new HashSet<>();
        for (AdapterSpec s : specs) {
            if (!names.add(s.name())) {
                throw new IllegalArgumentException("adapter name '" + s.name() + "' is given twice");
            }
        }
        // the base model's tensor table is read once for all adapters
        try (GgufFile base = GgufFile.open(model.path())) {
            for (AdapterSpec s : specs) {
                checkFits(base, model, s);
            }
        } catch (IOException e) {
            throw new LlamaException("cannot read model " + model.path() + ": " + e.getMessage(), e);
        }
        List<LoraAdapter> loaded = new ArrayList<>();
        try {
            for (AdapterSpec s : specs) {
                loaded.add(LoraAdapter.load(model, s.name(), s.path()));
            }
        } catch (RuntimeException e) {
            loaded.forEach(LoraAdapter::close);
            throw e;
        }
        return new AdapterSet(specs, loaded);
    }

    /** Throws a one-line error naming the tensor and shapes when the adapter does not fit the base model. */
    static void checkFits(GgufFile base, Model model, AdapterSpec spec) {
        Model.checkGgufFile(spec.path(), "adapter '" + spec.name() + "'");
        try (GgufFile adapter = GgufFile.open(spec.path())) {
            List<LoraCompatibility.Problem> problems = LoraCompatibility.check(base, adapter);
            if (!problems.isEmpty()) {
                String first = problems.get(0).toString();
                throw new LlamaException("adapter '" + spec.name() + "' (" + spec.path() + ") does not fit model "
                        + model.path().getFileName() + ": " + first
                        + (problems.size() > 1 ? " (and " + (problems.size() - 1) + " more problem(s))" : ""));
            }
        } catch (GgufFormatException e) {
            throw new LlamaException("adapter '" + spec.name() + "' is not valid GGUF: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new LlamaException("cannot read adapter '" + spec.name() + "': " + e.getMessage(), e);
        }
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
        return new RoutedDecoder(context, adapters, scales(), router);
    }

    @Override
    public void close() {
        adapters.forEach(LoraAdapter::close);
    }
}
