package io.molora.engine;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A fixed mix of adapters by name, each with a weight (the adapter's own scale applies on top); empty = the base
 * model. Insertion order is kept: it is the order of the route's slots.
 */
public record AdapterMix(Map<String, Float> weights) {
    /**
     * The largest weight a mix may give an adapter, either sign (as {@code --lora-scaled} takes). Real adapters run at
     * 0.1 to 10; a weight that drives a model's output to NaN ends only its own request
     * ({@link io.molora.runtime.NonFiniteOutputException}).
     */
    public static final float MAX_WEIGHT = 1e4f;

    /** @throws IllegalArgumentException for a weight that is not finite or beyond ±{@link #MAX_WEIGHT} */
    public AdapterMix {
        weights = Collections.unmodifiableMap(new LinkedHashMap<>(weights));
        weights.forEach((name, w) -> {
            if (w == null || !Float.isFinite(w) || Math.abs(w) > MAX_WEIGHT) {
                throw new IllegalArgumentException("the weight of adapter '" + name + "' must be a finite number "
                        + "within +-1e4, got " + w);
            }
        });
    }

    /** The base model alone. */
    public static AdapterMix none() {
        return new AdapterMix(Map.of());
    }

    /** Every adapter at weight 1, in order. */
    public static AdapterMix all(List<String> loaded) {
        Map<String, Float> m = new LinkedHashMap<>();
        loaded.forEach(n -> m.put(n, 1f));
        return new AdapterMix(m);
    }

    /**
     * {@code NAME[,NAME...]} at weight 1 each; "none", "base" and empty names add nothing ("none" alone: the base
     * model).
     *
     * @throws IllegalArgumentException naming an adapter that is not loaded
     */
    public static AdapterMix parse(String spec, List<String> loaded) {
        Map<String, Float> m = new LinkedHashMap<>();
        for (String n : spec.split(",")) {
            String name = n.strip();
            if (name.isEmpty() || name.equals("none") || name.equals("base")) {
                continue;
            }
            check(name, loaded);
            m.put(name, 1f);
        }
        return new AdapterMix(m);
    }

    public boolean isEmpty() {
        return weights.isEmpty();
    }

    public Set<String> names() {
        return weights.keySet();
    }

    /** Route ids of the mix's adapters among {@code loaded}, in order. */
    public int[] ids(List<String> loaded) {
        int[] ids = new int[weights.size()];
        int i = 0;
        for (String name : weights.keySet()) {
            check(name, loaded);
            ids[i++] = loaded.indexOf(name);
        }
        return ids;
    }

    /** The weights, in the order of {@link #ids}. */
    public float[] weightArray() {
        float[] w = new float[weights.size()];
        int i = 0;
        for (float v : weights.values()) {
            w[i++] = v;
        }
        return w;
    }

    private static void check(String name, List<String> loaded) {
        if (!loaded.contains(name)) {
            throw new IllegalArgumentException("no adapter named '" + name + "' (loaded: "
                    + (loaded.isEmpty() ? "none" : String.join(", ", loaded)) + ")");
        }
    }
}
