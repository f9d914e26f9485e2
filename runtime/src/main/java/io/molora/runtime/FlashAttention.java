package io.molora.runtime;

import java.util.Locale;

/**
 * Whether attention runs as one fused kernel (llama.cpp's {@code -fa on|off|auto}). The fused kernel rounds Q, K and V
 * to F16 on the CPU even with an F32 KV cache; off, attention is computed in the cache's own type.
 */
public enum FlashAttention {
    /** llama.cpp decides per device (its default). */
    AUTO(-1),
    OFF(0),
    ON(1);

    /** {@code enum llama_flash_attn_type} */
    final int nativeValue;

    FlashAttention(int nativeValue) {
        this.nativeValue = nativeValue;
    }

    /** Parses llama.cpp's spelling: {@code on}, {@code off} or {@code auto}. */
    public static FlashAttention parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "on", "enabled", "1" -> ON;
            case "off", "disabled", "0" -> OFF;
            case "auto", "-1" -> AUTO;
            default -> throw new IllegalArgumentException("'" + s + "' is not on, off or auto");
        };
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
