package io.molora.adapters;

import io.molora.gguf.LoraCompatibility;
import java.nio.file.Path;

/**
 * One adapter to load: a name routes refer to, its GGUF file, and its user scale (llama.cpp's {@code --lora-scaled}),
 * finite and at most {@link LoraCompatibility#MAX_SCALE} in magnitude; for a SAMoRA adapter, the task whose scale it
 * applies ({@code null}: the rule for a task it was not trained on; other adapters ignore it).
 */
public record AdapterSpec(String name, Path path, float scale, String task) {
    public AdapterSpec(String name, Path path, float scale) {
        this(name, path, scale, null);
    }

    public AdapterSpec {
        if (name == null || !name.matches("[A-Za-z0-9_.-]+")) {
            throw new IllegalArgumentException("adapter name must be letters, digits, '_', '.' or '-', got '" + name + "'");
        }
        if (name.equals("none") || name.equals("base")) {
            throw new IllegalArgumentException("'" + name + "' is reserved for \"no adapter\"");
        }
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("scale of adapter '" + name + "' must be a finite number, got " + scale);
        }
        if (Math.abs(scale) > LoraCompatibility.MAX_SCALE) {
            // real adapters run at about 0.1 to 10; at 1e30 every logit overflows and the model writes nothing
            throw new IllegalArgumentException("scale of adapter '" + name + "' must be between -"
                    + LoraCompatibility.MAX_SCALE + " and " + LoraCompatibility.MAX_SCALE + ", got " + scale);
        }
    }

    /** This spec with another file (the same name, scale and task). */
    public AdapterSpec withPath(Path other) {
        return new AdapterSpec(name, other, scale, task);
    }

    /** This spec with a SAMoRA task ({@code --samora-task}). */
    public AdapterSpec withTask(String samoraTask) {
        return new AdapterSpec(name, path, scale, samoraTask);
    }

    /** Parses {@code NAME=PATH} (scale 1) — the {@code --lora} form. */
    public static AdapterSpec parse(String text) {
        int eq = text.indexOf('=');
        if (eq <= 0 || eq == text.length() - 1) {
            throw new IllegalArgumentException("expected NAME=PATH, got '" + text + "'");
        }
        return new AdapterSpec(text.substring(0, eq), Path.of(text.substring(eq + 1)), 1f);
    }

    /** Parses {@code NAME=PATH:SCALE} — the {@code --lora-scaled} form. */
    public static AdapterSpec parseScaled(String text) {
        int colon = text.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("expected NAME=PATH:SCALE, got '" + text + "'");
        }
        AdapterSpec plain = parse(text.substring(0, colon));
        try {
            return new AdapterSpec(plain.name(), plain.path(), Float.parseFloat(text.substring(colon + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("scale in '" + text + "' is not a number");
        }
    }
}
