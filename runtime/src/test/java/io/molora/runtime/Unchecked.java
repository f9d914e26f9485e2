package io.molora.runtime;

import java.nio.file.Path;

/**
 * Native loads without molora's Java checks, for the load campaign's control runs and the regression tests that
 * show what each check prevents (in a child process: these may abort it).
 */
public final class Unchecked {
    private Unchecked() {}

    public static Model loadModel(Path path, ModelParams params) {
        return Model.loadUnchecked(path, params);
    }

    public static LoraAdapter loadAdapter(Model model, String name, Path path) {
        return LoraAdapter.loadUnchecked(model, name, path);
    }
}
