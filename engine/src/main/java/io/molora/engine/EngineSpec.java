package io.molora.engine;

import io.molora.adapters.AdapterSpec;
import io.molora.runtime.ContextParams;
import io.molora.runtime.ModelParams;
import io.molora.runtime.RoutingForm;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * What {@link Engine#open} loads: a GGUF base model, how to load it and size its contexts, the LoRA adapters (adapter
 * {@code i} is route id {@code i}), and the router of the tokens no caller chose adapters for.
 *
 * @param contextParams the contexts' settings; the engine turns embeddings on where the router needs hidden states
 * @param routingForm   how llama.cpp applies the routed adapters ({@link RoutingForm#AUTO}: by their total width)
 * @param peftCache     where adapters given as PEFT directories are converted to GGUF ({@link PeftAdapters}), by
 *                      default {@code peft/} in {@link MoloraCache molora's cache}
 */
public record EngineSpec(Path model, ModelParams modelParams, ContextParams contextParams, List<AdapterSpec> adapters,
        RouterSpec router, RoutingForm routingForm, Path peftCache) {
    public EngineSpec {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(routingForm, "routingForm");
        Objects.requireNonNull(modelParams, "modelParams");
        Objects.requireNonNull(contextParams, "contextParams");
        Objects.requireNonNull(router, "router");
        Objects.requireNonNull(peftCache, "peftCache");
        adapters = List.copyOf(adapters);
        if (router.needsAdapters() && adapters.isEmpty()) {
            throw new IllegalArgumentException(router.describe() + " needs the adapters it routes to");
        }
    }

    /** The same, converting PEFT directories into the default {@code peft/} folder of molora's cache. */
    public EngineSpec(Path model, ModelParams modelParams, ContextParams contextParams, List<AdapterSpec> adapters,
            RouterSpec router, RoutingForm routingForm) {
        this(model, modelParams, contextParams, adapters, router, routingForm, MoloraCache.resolve("peft"));
    }

    /** The model alone, with llama.cpp's default model and context settings. */
    public static EngineSpec of(Path model) {
        return new EngineSpec(model, ModelParams.defaults(), ContextParams.defaults(), List.of(), new RouterSpec.Base(),
                RoutingForm.AUTO, MoloraCache.resolve("peft"));
    }

    public EngineSpec withModelParams(ModelParams p) {
        return new EngineSpec(model, p, contextParams, adapters, router, routingForm, peftCache);
    }

    public EngineSpec withContextParams(ContextParams p) {
        return new EngineSpec(model, modelParams, p, adapters, router, routingForm, peftCache);
    }

    /** These adapters and this router (checked together: a router that needs adapters needs some). */
    public EngineSpec withAdapters(List<AdapterSpec> a, RouterSpec r) {
        return new EngineSpec(model, modelParams, contextParams, a, r, routingForm, peftCache);
    }

    public EngineSpec withRoutingForm(RoutingForm form) {
        return new EngineSpec(model, modelParams, contextParams, adapters, router, form, peftCache);
    }

    /** PEFT directories converted into {@code dir} instead of molora's cache. */
    public EngineSpec withPeftCache(Path dir) {
        return new EngineSpec(model, modelParams, contextParams, adapters, router, routingForm, dir);
    }
}
