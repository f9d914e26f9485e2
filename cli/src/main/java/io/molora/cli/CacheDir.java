package io.molora.cli;

import java.nio.file.Path;

/** molora's cache: $MOLORA_CACHE, else $XDG_CACHE_HOME/molora or ~/.cache/molora — where native-build/build.sh puts it. */
final class CacheDir {
    private CacheDir() {}

    static Path resolve(String... parts) {
        String env = System.getenv("MOLORA_CACHE");
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path root = env != null && !env.isBlank() ? Path.of(env)
                : xdg != null && !xdg.isBlank() ? Path.of(xdg, "molora")
                : Path.of(System.getProperty("user.home"), ".cache", "molora");
        return root.resolve(Path.of("", parts));
    }
}
