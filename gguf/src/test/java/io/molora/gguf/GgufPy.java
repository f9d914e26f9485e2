package io.molora.gguf;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the python scripts under test resources against llama.cpp's gguf-py. */
final class GgufPy {
    private final Path gguFpy;

    private GgufPy(Path ggufPy) {
        this.gguFpy = ggufPy;
    }

    /** Skips the test unless the source tree, python3 and numpy are all available. */
    static GgufPy require() throws Exception {
        Path src = LlamaSource.require();
        GgufPy py = new GgufPy(src.resolve("gguf-py"));
        Result r;
        try {
            r = py.run(List.of("-c", "import numpy, gguf"));
        } catch (IOException e) {
            Assumptions.abort("python3 is not runnable: " + e.getMessage());
            throw e;
        }
        Assumptions.assumeTrue(r.exit == 0, "python3 cannot import numpy and gguf-py: " + r.output);
        return py;
    }

    record Result(int exit, String output) {}

    Result run(List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add("python3");
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PYTHONPATH", gguFpy.toString());
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("python3 " + args + " timed out");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    Result script(String name, String... args) throws Exception {
        Path script = Path.of(GgufPy.class.getResource("/python/" + name).toURI());
        List<String> all = new ArrayList<>();
        all.add(script.toString());
        all.addAll(List.of(args));
        Result r = run(all);
        if (r.exit != 0) {
            throw new AssertionError(name + " failed: " + r.output);
        }
        return r;
    }

    List<String> dump(Path gguf) throws Exception {
        return script("gguf_dump.py", gguf.toString()).output.lines().toList();
    }
}
