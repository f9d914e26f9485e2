package io.molora.engine.bench;

import io.molora.runtime.Backend;
import io.molora.runtime.LlamaException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The generation and prefill loops in C++ ({@code native-build/bench/decode_loop.cpp}, built beside the library as
 * {@code bin/molora-decode-loop}) on the same files and settings: what the Java loops cost over llama.cpp itself.
 */
final class NativeReference {
    private final Path exe;

    private NativeReference(Path exe) {
        this.exe = exe;
    }

    /** The loop of the loaded native build; empty when that build has none. */
    static Optional<NativeReference> find() {
        Path exe = executable();
        return Files.isExecutable(exe) ? Optional.of(new NativeReference(exe)) : Optional.empty();
    }

    static Path executable() {
        return Backend.libraryDir().getParent().resolve("bin/molora-decode-loop");
    }

    /**
     * Runs the loop on {@code model} (with {@code lora} fixed when not null): its rows, named
     * {@code "native <scenario>: <label>"}, e.g. {@code "native gen: no adapter"}.
     */
    List<BenchRow> run(BenchSettings s, Path model, Path lora, String label) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(exe.toString(), "-m", model.toString(),
                "--prompt", Integer.toString(s.prompt()), "--gen", Integer.toString(s.gen()),
                "--prefill", Integer.toString(s.prefill()), "--repeat", Integer.toString(s.repeat()),
                "--prefill-repeat", Integer.toString(s.prefillRepeat()), "-ngl", Integer.toString(s.gpuLayers())));
        if (s.threads() > 0) {
            cmd.addAll(List.of("-t", Integer.toString(s.threads())));
        }
        if (lora != null) {
            cmd.addAll(List.of("--lora", lora.toString()));
        }
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (p.waitFor() != 0) {
                throw new LlamaException("native reference loop " + exe + " failed (exit " + p.exitValue() + ")");
            }
        } catch (InterruptedException e) {
            p.destroy();
            Thread.currentThread().interrupt();
            throw new LlamaException("interrupted");
        }
        // one "<scenario> <tok/s>" line per scenario, e.g. "gen 812.4"
        List<BenchRow> rows = new ArrayList<>();
        for (String line : text.split("\\R")) {
            String[] f = line.trim().split(" ");
            if (f.length == 2) {
                rows.add(new BenchRow("native " + f[0] + ": " + label, Double.parseDouble(f[1])));
            }
        }
        if (rows.isEmpty()) {
            throw new LlamaException("native reference loop " + exe + " printed no results");
        }
        return rows;
    }
}
