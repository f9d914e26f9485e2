package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.gguf.synth.LoraSpec;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code molora perplexity} against llama.cpp's own llama-perplexity, built from the same source. */
class PerplexityCommandTest {
    private static final Pattern FINAL = Pattern.compile("Final estimate: PPL = ([0-9.]+)");

    @TempDir
    static Path dir;
    private static Path model;
    private static Path text;

    @BeforeAll
    static void files() throws IOException {
        model = NativeTestSupport.writeTinyModel(dir, 5);
        // words from a small lexicon: about 3 000 tokens, enough for 2 x 512-token contexts and many 128-token ones
        String[] words = ("the a model adapter token route code math prose equation solve write function value "
                + "return if else for while number sum of and to in is that with as on by").split(" ");
        Random rnd = new Random(1);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 2500; i++) {
            sb.append(words[rnd.nextInt(words.length)]).append(i % 17 == 16 ? ".\n" : " ");
        }
        text = Files.writeString(dir.resolve("text.txt"), sb.toString());
    }

    @Test
    void chunkedPerplexityEqualsLlamaPerplexity() throws Exception {
        for (String ctx : List.of("128", "512")) {
            CliTest.Run r = CliTest.run("perplexity", "-m", model.toString(), "-f", text.toString(), "-c", ctx, "--json");
            assertEquals(0, r.exit(), r.err());
            double molora = new ObjectMapper().readTree(r.out()).get("sets").get("text.txt").get("perplexity").asDouble();
            double llama = llamaPerplexity(ctx);
            assertTrue(Math.abs(molora - llama) <= 1e-3 * llama,
                    "-c " + ctx + ": molora " + molora + " vs llama-perplexity " + llama);
        }
    }

    @Test
    void evalRecordsAreScoredPerSetWithEachRecordsNll() throws IOException {
        Path records = Files.writeString(dir.resolve("eval.jsonl"), String.join("\n",
                "{\"set\": \"code\", \"text\": \"def solve(x): return x + 1\"}",
                "{\"set\": \"prose\", \"text\": \"The adapter writes the code and the model reads it.\"}",
                "",
                "{\"set\": \"code\", \"text\": \"for i in range(10): print(i)\"}") + "\n");
        Path lora = NativeTestSupport.writeLora(dir, LoraSpec.attention("code", 4, 1));
        CliTest.Run base = CliTest.run("perplexity", "-m", model.toString(), "-f", records.toString(), "--json");
        assertEquals(0, base.exit(), base.err());
        JsonNode sets = new ObjectMapper().readTree(base.out()).get("sets");
        assertEquals(2, sets.get("code").get("record_nll").size());
        double sum = sets.get("code").get("record_nll").get(0).asDouble() + sets.get("code").get("record_nll").get(1).asDouble();
        assertEquals(Math.exp(sum / sets.get("code").get("tokens_scored").asLong()),
                sets.get("code").get("perplexity").asDouble(), 1e-9 * sets.get("code").get("perplexity").asDouble());

        CliTest.Run adapted = CliTest.run("perplexity", "-m", model.toString(), "-f", records.toString(), "--json",
                "--lora", "code=" + lora, "--adapter", "code");
        assertEquals(0, adapted.exit(), adapted.err());
        double withAdapter = new ObjectMapper().readTree(adapted.out()).get("sets").get("code").get("perplexity").asDouble();
        assertTrue(Math.abs(withAdapter - sets.get("code").get("perplexity").asDouble()) > 1e-3, "the adapter changed nothing");
    }

    @Test
    void badCommandLinesExitTwo() {
        assertEquals(2, CliTest.run("perplexity", "-m", model.toString()).exit(), "no -f");
        assertEquals(2, CliTest.run("perplexity", "-m", model.toString(), "-f", dir.resolve("missing.txt").toString()).exit());
        CliTest.Run r = CliTest.run("perplexity", "-m", model.toString(), "-f", text.toString(), "--adapter", "code");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--lora"), r.err());
    }

    @Test
    void aTextTooShortForTwoContextsSaysWhatToChange() throws IOException {
        Path shortText = Files.writeString(dir.resolve("short.txt"), "only a few words here");
        CliTest.Run r = CliTest.run("perplexity", "-m", model.toString(), "-f", shortText.toString(), "-c", "128");
        assertEquals(1, r.exit());
        assertTrue(r.err().startsWith("molora: error: ") && r.err().lines().findFirst().orElse("").contains(
                "needs at least 256 (use a smaller -c or a longer file)"), r.err());
    }

    /** llama-perplexity with llama.cpp's defaults (batch 2048, flash attention auto, F16 cache), as molora's. */
    private static double llamaPerplexity(String ctx) throws IOException, InterruptedException {
        Path exe = NativeTestSupport.nativeDir().resolve("bin/llama-perplexity");
        Process p = new ProcessBuilder(exe.toString(), "-m", model.toString(), "-f", text.toString(), "-c", ctx,
                "-t", Integer.toString(Runtime.getRuntime().availableProcessors()))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "llama-perplexity timed out");
        assertEquals(0, p.exitValue(), out);
        Matcher m = FINAL.matcher(out);
        assertTrue(m.find(), "no final estimate in llama-perplexity's output:\n" + out);
        return Double.parseDouble(m.group(1));
    }
}
