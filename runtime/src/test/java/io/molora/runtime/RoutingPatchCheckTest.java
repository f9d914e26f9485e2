package io.molora.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The routing patch's own C++ check (native-build/tests/lora-routing), compiled against the native build and run:
 * routed vs stock segmented decoding in both forms (concatenated and gathered), multi-sequence batches split into
 * ubatches, constant and top-2 routes, graph reuse without re-reserve, the error paths, and the refusal of MoE
 * adapters. Offloaded with {@code -Dmolora.test.gpuLayers}, it runs on the GPU against a CPU reference.
 */
class RoutingPatchCheckTest {
    @TempDir
    Path dir;

    @Test
    void patchSelfCheckPasses() throws Exception {
        Path repo = Path.of(System.getProperty("molora.repo.root", ".."));
        Path check = repo.resolve("native-build/tests/lora-routing");
        assertTrue(Files.isRegularFile(check.resolve("test-lora-routing.cpp")), "no C++ check under " + check
                + " (set -Dmolora.repo.root)");
        Path nd = NativeTestSupport.nativeDir();

        // the tiny model and its adapters (F32 and F16), written by llama.cpp's own gguf-py
        Result made = run(List.of("python3", check.resolve("make_tiny.py").toString(), dir.toString(),
                NativeTestSupport.vocab("llama-spm").toString()), nd.resolve("src/gguf-py"), null, 120);
        Assumptions.assumeTrue(made.exit == 0 || !made.output.contains("No module named 'numpy'"),
                "python3 cannot import numpy: " + made.output);
        assertEquals(0, made.exit, "make_tiny.py failed: " + made.output);

        Path exe = dir.resolve("test-lora-routing");
        Result built = run(List.of("c++", "-O1", "-std=c++17", check.resolve("test-lora-routing.cpp").toString(),
                "-I" + nd.resolve("include"), "-L" + nd.resolve("lib"), "-lllama", "-lggml", "-lggml-base",
                "-Wl,-rpath," + nd.resolve("lib"), "-o", exe.toString()), null, null, 300);
        assertEquals(0, built.exit, "compiling test-lora-routing.cpp failed: " + built.output);

        Result checked = run(List.of(exe.toString(), dir.toString()), null, nd, 300);
        String failures = checked.output.lines().filter(l -> l.endsWith(" FAIL")).collect(Collectors.joining("\n"));
        assertEquals(0, checked.exit, "the routing patch check failed:\n" + failures + "\n" + tail(checked.output));
        assertTrue(checked.output.contains("ALL OK (0 failures)"), tail(checked.output));
        assertTrue(checked.output.contains("--- gather form"), "the gathered form did not run");
        assertTrue(checked.output.contains("F16 adapters packed as F16 copies"), "the F16 adapters' case did not run");
    }

    private record Result(int exit, String output) {}

    private static Result run(List<String> cmd, Path pythonPath, Path nativeDir, int seconds)
            throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (pythonPath != null) {
            pb.environment().put("PYTHONPATH", pythonPath.toString());
        }
        if (nativeDir != null) {
            if (NativeTestSupport.gpuLayers() != 0) {
                pb.environment().put("CHECK_NGL", Integer.toString(NativeTestSupport.gpuLayers()));
            }
            // backends built as modules (native-build's CUDA and --backend-dl builds) are in bin/
            pb.environment().put("CHECK_BACKEND_DIR", nativeDir.resolve("bin").toString());
        }
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(cmd.get(0) + " timed out after " + seconds + " s");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    private static String tail(String s) {
        return s.length() > 3000 ? s.substring(s.length() - 3000) : s;
    }
}
