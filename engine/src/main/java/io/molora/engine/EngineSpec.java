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
 */
public record EngineSpec(Path model, ModelParams modelParams, ContextParams contextParams, List<AdapterSpec> adapters,
        RouterSpec router, RoutingForm routingForm) {
    public EngineSpec {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(routingForm, "routingForm");
        Objects.requireNonNull(modelParams, "modelParams");
        Objects.requireNonNull(contextParams, "contextParams");
        Objects.requireNonNull(router, "router");
        adapters = List.copyOf(adapters);
        if (router.needsAdapters() && adapters.isEmpty()) {
            throw new IllegalArgumentException(router.describe() + " needs the adapters it routes to");
        }
    }

    /** The model alone, with llama.cpp's default model and context settings. */
    public static EngineSpec of(Path model) {
        return new EngineSpec(model, ModelParams.defaults(), ContextParams.defaults(), List.of(), new RouterSpec.Base(),
                RoutingForm.AUTO);
    }

    public EngineSpec withModelParams(ModelParams p) {
        return new EngineSpec(model, p, contextParams, adapters, router, routingForm);
    }

    public EngineSpec withContextParams(ContextParams p) {
        return new EngineSpec(model, modelParams, p, adapters, router, routingForm);
    }

    /** These adapters and this router (checked together: a router that needs adapters needs some). */
    public EngineSpec withAdapters(List<AdapterSpec> a, RouterSpec r) {
        return new EngineSpec(model, modelParams, contextParams, a, r, routingForm);
    }

    public EngineSpec withRoutingForm(RoutingForm form) {
        return new EngineSpec(model, modelParams, contextParams, adapters, router, form);
    }
}
