package io.molora.gguf.synth;

import io.molora.gguf.GgmlType;

import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * Parameters of a random synthetic LoRA adapter.
 *
 * @param strength standard deviation of B's entries times sqrt(rank); A has std 1/sqrt(n_in),
 *                 so the update B·A·h has roughly std {@code strength * alpha / rank} per output
 * @param type     F32 or F16 (what convert_lora_to_gguf.py writes)
 */
public record LoraSpec(String name, int rank, float alpha, Set<LoraTarget> targets, long seed,
                       float strength, GgmlType type) {

    public LoraSpec {
        Objects.requireNonNull(name, "name");
        if (rank <= 0) {
            throw new IllegalArgumentException("rank must be positive, got " + rank);
        }
        if (!(alpha >= 0) || Float.isInfinite(alpha)) {
            throw new IllegalArgumentException("alpha must be finite and >= 0, got " + alpha);
        }
        if (targets == null || targets.isEmpty()) {
            throw new IllegalArgumentException("at least one target is needed");
        }
        targets = Set.copyOf(EnumSet.copyOf(targets));
        if (!(strength >= 0) || Float.isInfinite(strength)) {
            throw new IllegalArgumentException("strength must be finite and >= 0, got " + strength);
        }
        if (type != GgmlType.F32 && type != GgmlType.F16) {
            throw new IllegalArgumentException("adapter type must be F32 or F16, got " + type);
        }
    }

    /** Rank {@code rank}, alpha = rank (scale 1), all attention projections, F32. */
    public static LoraSpec attention(String name, int rank, long seed) {
        return new LoraSpec(name, rank, rank, EnumSet.of(LoraTarget.Q, LoraTarget.K, LoraTarget.V, LoraTarget.O),
                seed, 1.0f, GgmlType.F32);
    }
}
