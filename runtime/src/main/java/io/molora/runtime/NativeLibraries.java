package io.molora.runtime;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds and loads llama.cpp's shared libraries (built by native-build/build.sh).
 *
 * <p>The generated bindings look their symbols up in the libraries loaded by this class loader, so loading them here
 * with {@link System#load} is what makes the bindings work. Where: system property {@code molora.native.dir}, else
 * environment variable {@code MOLORA_NATIVE_DIR}; either names the build directory (with {@code lib/}) or the
 * library folder itself.
 */
final class NativeLibraries {
    /** Dependency order: each library's needs come before it. */
    private static final List<String> ORDER = List.of("ggml-base", "ggml-cpu", "ggml-cuda", "ggml", "llama");

    private static Path loadedFrom;

    private NativeLibraries() {}

    static synchronized Path load() {
        if (loadedFrom != null) {
            return loadedFrom;
        }
        Path dir = libraryDir();
        for (String name : ORDER) {
            Path lib = dir.resolve(System.mapLibraryName(name));
            if (Files.isRegularFile(lib)) {
                System.load(lib.toAbsolutePath().toString());
            } else if (name.equals("llama") || name.equals("ggml") || name.equals("ggml-base")) {
                throw new LlamaException("llama.cpp library " + lib + " is missing; run native-build/build.sh");
            }
        }
        loadedFrom = dir;
        return dir;
    }

    static Path libraryDir() {
        List<String> tried = new ArrayList<>();
        for (String configured : new String[] {System.getProperty("molora.native.dir"), System.getenv("MOLORA_NATIVE_DIR")}) {
            if (configured == null || configured.isBlank()) {
                continue;
            }
            Path base = Path.of(configured);
            for (Path candidate : List.of(base.resolve("lib"), base)) {
                tried.add(candidate.toString());
                if (Files.isRegularFile(candidate.resolve(System.mapLibraryName("llama")))) {
                    return candidate;
                }
            }
        }
        throw new LlamaException(tried.isEmpty()
                ? "llama.cpp libraries not found: set -Dmolora.native.dir or MOLORA_NATIVE_DIR to the directory "
                        + "printed by native-build/build.sh (the ./molora launcher does this for you)"
                : "llama.cpp libraries not found in " + String.join(", ", tried) + "; run native-build/build.sh");
    }
}
