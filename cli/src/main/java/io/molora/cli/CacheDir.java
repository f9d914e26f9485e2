package io.molora.cli;

import io.molora.engine.MoloraCache;
import java.nio.file.Path;

/** molora's cache ({@link MoloraCache}): $MOLORA_CACHE, else $XDG_CACHE_HOME/molora or ~/.cache/molora. */
final class CacheDir {
    private CacheDir() {}

    static Path resolve(String... parts) {
        return MoloraCache.resolve(parts);
    }
}
