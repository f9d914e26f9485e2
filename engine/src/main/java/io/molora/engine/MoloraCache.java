package io.molora.engine;

import java.nio.file.Path;

/**
 * molora's cache: {@code $MOLORA_CACHE}, else {@code $XDG_CACHE_HOME/molora} or {@code ~/.cache/molora} — where
 * native-build/build.sh puts llama.cpp's build, and where the engine keeps what it derives from the user's files
 * (converted PEFT adapters, router passes, bench fixtures).
 */
public final class MoloraCache {
    private MoloraCache() {}

    /** {@code parts} under the cache's root. */
    public static Path resolve(String... parts) {
        String env = System.getenv("MOLORA_CACHE");
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path root = env != null && !env.isBlank() ? Path.of(env)
                : xdg != null && !xdg.isBlank() ? Path.of(xdg, "molora")
                : Path.of(System.getProperty("user.home"), ".cache", "molora");
        return root.resolve(Path.of("", parts));
    }
}
