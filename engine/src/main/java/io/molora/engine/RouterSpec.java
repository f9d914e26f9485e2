package io.molora.engine;

import io.molora.runtime.RouteTable;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;

/**
 * Which router decides the adapters of each token, as data: {@link Routers#create} builds it over a loaded model and
 * adapter set. Adapters are named as in the engine's adapter list; every spec but {@link Base} needs adapters.
 */
public sealed interface RouterSpec {
    /** No adapter on any token: the base model. */
    record Base() implements RouterSpec {
        @Override
        public boolean needsAdapters() {
            return false;
        }
    }

    /** Every token to one adapter, at its scale. */
    record Fixed(String adapter) implements RouterSpec {
        public Fixed {
            Objects.requireNonNull(adapter, "adapter");
        }
    }

    /** Every token to all adapters at once, each at its scale (what llama.cpp does with several {@code --lora}). */
    record AllAdapters() implements RouterSpec {}

    /** Each sequence to its own adapter ("none" or a missing sequence: the base model). */
    record PerSequence(Map<Integer, String> adapterBySequence) implements RouterSpec {
        public PerSequence {
            adapterBySequence = Map.copyOf(adapterBySequence);
        }
    }

    /**
     * Routes given in advance: {@code routesBySequence.get(seq)[pos]} is the adapter id of that token
     * ({@link RouteTable#NONE} for the base model; past the end: the base model).
     */
    record TokenList(Map<Integer, int[]> routesBySequence) implements RouterSpec {
        public TokenList {
            routesBySequence = Map.copyOf(routesBySequence);
        }
    }

    /** A vocabulary router: rules over token ids, text and delimited spans, from a {@code vocab.json} file. */
    record Vocabulary(Path file) implements RouterSpec {
        public Vocabulary {
            Objects.requireNonNull(file, "file");
        }
    }

    /**
     * A learned gate from {@code train-router}, checked against the model and adapters it was trained with; its
     * scores become routes by {@code decision}. A gate with hidden-state features needs the engine's hidden states.
     */
    record Learned(Path file, SoftTopK decision, java.util.OptionalDouble switchBonus) implements RouterSpec {
        /** @param switchBonus the routes' stickiness ({@code LearnedRouter}); empty: the one the file was saved with */
        public Learned {
            Objects.requireNonNull(file, "file");
            Objects.requireNonNull(decision, "decision");
            Objects.requireNonNull(switchBonus, "switchBonus");
            switchBonus.ifPresent(b -> {
                if (!(b >= 0) || b > 1e3) {
                    throw new IllegalArgumentException("switch bonus must be 0 to 1000, got " + b);
                }
            });
        }

        public Learned(Path file, SoftTopK decision) {
            this(file, decision, java.util.OptionalDouble.empty());
        }

        /** The gate's top choice on every token, at full weight, with the file's switch bonus. */
        public Learned(Path file) {
            this(file, SoftTopK.TOP_1);
        }
    }

    /**
     * How scores become a route (see {@code io.molora.adapters.routers.SoftTopK}): softmax at {@code temperature},
     * the base model under {@code threshold}, else the {@code k} most probable with renormalised weights.
     */
    record SoftTopK(int k, float temperature, float threshold) {
        /** Hard routing to the argmax. */
        public static final SoftTopK TOP_1 = new SoftTopK(1, 1f, 0f);

        public SoftTopK {
            new io.molora.adapters.routers.SoftTopK(k, temperature, threshold);  // the same checks, the same messages
        }

        io.molora.adapters.routers.SoftTopK create() {
            return new io.molora.adapters.routers.SoftTopK(k, temperature, threshold);
        }
    }

    /** Whether the router routes to adapters (every spec but {@link Base}). */
    default boolean needsAdapters() {
        return true;
    }

    /** What it routes by, in words: "base", "adapter code", "learned router r.gguf", ... */
    default String describe() {
        return switch (this) {
            case Base b -> "base";
            case Fixed f -> "adapter " + f.adapter();
            case AllAdapters a -> "all adapters at once";
            case PerSequence p -> "an adapter per sequence";
            case TokenList t -> "routes given per token";
            case Vocabulary v -> "vocabulary router " + v.file().getFileName();
            case Learned l -> "learned router " + l.file().getFileName();
        };
    }
}
