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
    void spanRoutesFollowTheLabelsAndRoutersAreScoredAgainstThem() throws IOException {
        Path records = Files.writeString(dir.resolve("mixed.jsonl"),
                "{\"set\": \"mixed\", \"text\": \"Write code: def f(x): return 2*x\", "
                + "\"spans\": [[0, 12, \"prose\"], [12, 32, \"code\"]]}\n"
                + "{\"set\": \"code\", \"text\": \"def g(y): return y - 1\"}\n");
        Path code = NativeTestSupport.writeLora(dir, LoraSpec.attention("code", 4, 1));
        Path prose = NativeTestSupport.writeLora(dir, LoraSpec.attention("prose", 4, 2));
        String[] common = {"perplexity", "-m", model.toString(), "-f", records.toString(), "--json",
                "--lora", "code=" + code, "--lora", "prose=" + prose};
        CliTest.Run spans = CliTest.run(concat(common, "--span-routes", "--token-nll"));
        assertEquals(0, spans.exit(), spans.err());
        JsonNode sets = new ObjectMapper().readTree(spans.out()).get("sets");
        assertEquals(1.0, sets.get("mixed").get("label_accuracy").asDouble(), "span routes are the labels");
        assertEquals(1.0, sets.get("code").get("label_accuracy").asDouble(), "a set named like an adapter labels all");
        JsonNode tokens = sets.get("mixed").get("token_nll").get(0);
        assertEquals(sets.get("mixed").get("tokens_scored").asInt(), tokens.size());
        // span routing is its own thing: neither adapter alone gives the same mixed-line NLL
        for (String a : List.of("code", "prose")) {
            CliTest.Run one = CliTest.run(concat(common, "--adapter", a));
            assertEquals(0, one.exit(), one.err());
            double nll = new ObjectMapper().readTree(one.out()).get("sets").get("mixed").get("nll_per_token").asDouble();
            assertTrue(Math.abs(nll - sets.get("mixed").get("nll_per_token").asDouble()) > 1e-4, a);
        }
        // a vocabulary router that sends everything to code agrees with the labels on the code tokens only
        Path vocab = Files.writeString(dir.resolve("vocab.json"), "{\"default\": \"code\", \"rules\": []}");
        CliTest.Run routed = CliTest.run(concat(common, "--routes", vocab.toString()));
        assertEquals(0, routed.exit(), routed.err());
        double acc = new ObjectMapper().readTree(routed.out()).get("sets").get("mixed").get("label_accuracy").asDouble();
        assertTrue(acc > 0.3 && acc < 0.9, "accuracy of all-code routing on a half-code line: " + acc);
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void badCommandLinesExitTwo() {
        assertEquals(2, CliTest.run("perplexity", "-m", model.toString()).exit(), "no -f");
        assertEquals(2, CliTest.run("perplexity", "-m", model.toString(), "-f", dir.resolve("missing.txt").toString()).exit());
        CliTest.Run r = CliTest.run("perplexity", "-m", model.toString(), "-f", text.toString(), "--adapter", "code");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--lora"), r.err());
        assertEquals(2, CliTest.run("perplexity", "-m", model.toString(), "-f", text.toString(), "--span-routes",
                "--adapter", "x").exit());
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
