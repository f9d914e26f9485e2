package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.llama_lora_routing_default_params;

import io.molora.bindings.llama.llama_lora_routing_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.util.Objects;

/**
 * How adapters are registered for per-token routing ({@code struct llama_lora_routing_params}).
 *
 * @param form              how the graph applies them ({@link RoutingForm#AUTO} chooses by width)
 * @param maxRoutesPerToken the most adapters one token may mix (the k of a {@link RouteTable}), at least 1
 * @param gatherWidth       for {@link RoutingForm#AUTO}: the total width K·r_max (K adapters, r_max their largest
 *                          rank) past which the gathered form is used
 */
public record RoutingParams(RoutingForm form, int maxRoutesPerToken, int gatherWidth) {
    public RoutingParams {
        Objects.requireNonNull(form, "form");
        if (maxRoutesPerToken < 1) {
            throw new IllegalArgumentException("maxRoutesPerToken must be >= 1, got " + maxRoutesPerToken);
        }
        if (gatherWidth < 0) {
            throw new IllegalArgumentException("gatherWidth must be >= 0, got " + gatherWidth);
        }
    }

    /** llama_lora_routing_default_params(): form auto, one route per token, gather past a width of 1024. */
    public static RoutingParams defaults() {
        return new RoutingParams(RoutingForm.AUTO, 1, 1024);
    }

    public RoutingParams withForm(RoutingForm f) {
        return new RoutingParams(f, maxRoutesPerToken, gatherWidth);
    }

    public RoutingParams withMaxRoutesPerToken(int k) {
        return new RoutingParams(form, k, gatherWidth);
    }

    public RoutingParams withGatherWidth(int width) {
        return new RoutingParams(form, maxRoutesPerToken, width);
    }

    /** The struct, filled from llama.cpp's own defaults and then from this record. */
    MemorySegment toNative(SegmentAllocator allocator) {
        MemorySegment p = llama_lora_routing_default_params(allocator);
        llama_lora_routing_params.form(p, form.nativeValue());
        llama_lora_routing_params.max_routes_per_token(p, maxRoutesPerToken);
        llama_lora_routing_params.gather_width(p, gatherWidth);
        return p;
    }

    /** What llama.cpp's llama_lora_routing_default_params() gives (tests compare it with {@link #defaults()}). */
    static RoutingParams nativeDefaults() {
        Backend.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = llama_lora_routing_default_params(arena);
            int f = llama_lora_routing_params.form(p);
            RoutingForm form = null;
            for (RoutingForm candidate : RoutingForm.values()) {
                if (candidate.nativeValue() == f) {
                    form = candidate;
                }
            }
            return new RoutingParams(Objects.requireNonNull(form, "unknown native form " + f),
                    llama_lora_routing_params.max_routes_per_token(p), llama_lora_routing_params.gather_width(p));
        }
    }
}
