package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.LLAMA_LORA_ROUTING_FORM_AUTO;
import static io.molora.bindings.llama.llama_h.LLAMA_LORA_ROUTING_FORM_CONCAT;
import static io.molora.bindings.llama.llama_h.LLAMA_LORA_ROUTING_FORM_GATHER;

import java.util.Locale;

/** How llama.cpp applies the adapters registered for per-token routing ({@code enum llama_lora_routing_form}). */
public enum RoutingForm {
    /** Concatenated up to a total width K·r_max of {@link RoutingParams#gatherWidth()}, gathered past it. */
    AUTO(LLAMA_LORA_ROUTING_FORM_AUTO()),
    /** All adapters concatenated and masked per token: work per token grows with the number of adapters. */
    CONCAT(LLAMA_LORA_ROUTING_FORM_CONCAT()),
    /** Each token's routes gathered with {@code ggml_mul_mat_id}: work per token independent of the number. */
    GATHER(LLAMA_LORA_ROUTING_FORM_GATHER());

    private final int nativeValue;

    RoutingForm(int nativeValue) {
        this.nativeValue = nativeValue;
    }

    int nativeValue() {
        return nativeValue;
    }

    /** The form named {@code auto}, {@code concat} or {@code gather} (any case). */
    public static RoutingForm parse(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown routing form '" + name + "' (auto, concat or gather)");
        }
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
