package io.molora.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import io.molora.runtime.testing.NativeTestSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Greedy generation through molora equals, token for token, what llama.cpp's own examples/simple prints for the same
 * model, prompt and length (built by native-build from the same source). simple prints every prompt and generated
 * token as its piece with special tokens rendered, so equal output text means equal tokens.
 */
class SimpleParityTest {
    @TempDir
    static Path dir;
    private static Path modelPath;
    private static Model model;

    @BeforeAll
    static void load() throws IOException {
        modelPath = NativeTestSupport.writeTinyModel(dir, 42);
        model = Model.load(modelPath, NativeTestSupport.modelParams());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "Hello my name is|32",
        "The capital of France is|48",
        "def fibonacci(n):|24",
    })
    void greedyTokensEqualLlamaSimple(String prompt, int nPredict) throws Exception {
        String oracle = runLlamaSimple(prompt, nPredict);

        int[] promptTokens = model.tokenizer().tokenize(prompt, true, true);
        ContextParams params = ContextParams.defaults().withContextSize(promptTokens.length + nPredict);
        int[] generated;
        try (Context ctx = Context.create(model, params);
             Sampler greedy = new Sampler(SamplerParams.greedy());
             Generator generator = new Generator(ctx, greedy)) {
            generated = generator.generate(promptTokens, nPredict, t -> { }).tokens();
        }
        int[] all = concat(promptTokens, generated);
        String ours = model.tokenizer().detokenize(all);

        assertEquals(oracle, ours, "molora and llama.cpp's simple diverge");
        assertEquals(nPredict, generated.length, "random weights should not hit end-of-generation this early");
        assertTrue(Arrays.stream(generated).distinct().count() > 3, "degenerate generation proves little: "
                + Arrays.toString(generated));
    }

    private static String runLlamaSimple(String prompt, int nPredict) throws IOException, InterruptedException {
        Path simple = NativeTestSupport.nativeDir().resolve("bin/llama-simple");
        Process p = new ProcessBuilder(simple.toString(), "-m", modelPath.toString(), "-n", Integer.toString(nPredict),
                "-ngl", Integer.toString(NativeTestSupport.gpuLayers()), prompt)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "llama-simple timed out");
        assertEquals(0, p.exitValue(), "llama-simple failed");
        // simple ends its output with one newline of its own
        assertTrue(out.endsWith("\n"));
        return out.substring(0, out.length() - 1);
    }

    private static int[] concat(int[] a, int[] b) {
        int[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
