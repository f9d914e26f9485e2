package io.molora.cli;

import static io.molora.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.cli.CliTest.Run;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A request router (TT-LoRA MoE's: one adapter per request, picked from the mean of the base pass's hidden states over
 * the prompt) trained by {@code train-router --features request} on two labelled domains: every token of a request
 * goes to its domain's adapter, in {@code complete} (beside requests that name their adapter) and in
 * {@code perplexity}, and what it produces is exactly what naming that adapter produces.
 */
class RequestRoutingTest {
    static final ObjectMapper JSON = new ObjectMapper();
    // two domains with words of their own (and a few shared): a mean over the prompt tells them apart
    static final String[] MATH = {"if", "then7", "17", "27", "apple", "house", "blue"};
    static final String[] CODE = {"for", "return", "river", "green", "table", "music", "stone"};

    @TempDir
    static Path dir;
    static Path model;
    static Path math;
    static Path code;
    static Path router;

    static String text(String[] words, long seed, int n) {
        Random r = new Random(seed);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            b.append(words[r.nextInt(words.length)]).append(i % 9 == 8 ? ". " : " ");
        }
        return b.toString().trim();
    }

    static Path domain(String name, String[] words, long seed, int files) throws IOException {
        Path d = dir.resolve(name);
        Files.createDirectories(d);
        for (int i = 0; i < files; i++) {
            Files.writeString(d.resolve(i + ".txt"), text(words, seed + i, 40));
        }
        return d;
    }

    static List<String> family(String command) {
        return new ArrayList<>(List.of(command, "-m", model.toString(), "--lora", "math=" + math, "--lora",
                "code=" + code));
    }

    @BeforeAll
    static void train() throws IOException {
        TinyFamily f = TinyFamily.write(dir);
        model = f.model();
        math = f.math();
        code = f.code();
        router = dir.resolve("request-router.gguf");
        List<String> args = family("train-router");
        args.addAll(List.of("--domain", "math=" + domain("train-math", MATH, 100, 40), "--domain",
                "code=" + domain("train-code", CODE, 200, 40), "--features", "request", "--hidden", "0",
                "--epochs", "40", "--seq-len", "32", "--seed", "3", "-o", router.toString()));
        Run train = run(args.toArray(String[]::new));
        assertEquals(0, train.exit(), train.err());
        java.util.regex.Matcher acc = java.util.regex.Pattern.compile("training accuracy ([0-9.]+)").matcher(train.out());
        assertTrue(acc.find() && Double.parseDouble(acc.group(1)) >= 0.95, train.out());
    }

    static JsonNode evalRouter(String... domains) throws IOException {
        List<String> args = family("eval-router");
        args.addAll(List.of("--router", router.toString(), "--seq-len", "32", "--json"));
        for (String d : domains) {
            args.addAll(List.of("--domain", d));
        }
        Run eval = run(args.toArray(String[]::new));
        assertEquals(0, eval.exit(), eval.err());
        return JSON.readTree(eval.out());
    }

    @Test
    void heldOutRequestsGoToTheirDomainsAdapterOnEveryToken() throws IOException {
        // eval-router on held-out text: every sequence goes to its domain's adapter, so the router's perplexity is
        // the one of each domain's text under its own adapter, as eval-router measures on each domain alone
        Path testMath = domain("test-math", MATH, 900, 12);
        Path testCode = domain("test-code", CODE, 950, 12);
        JsonNode e = evalRouter("math=" + testMath, "code=" + testCode);
        assertEquals("request:hidden_mean", e.get("features").asText());
        assertEquals(1.0, e.get("routing_accuracy_vs_labels").asDouble(), 1e-9, e.toString());
        JsonNode onMath = evalRouter("math=" + testMath);
        JsonNode onCode = evalRouter("code=" + testCode);
        double nll = Math.log(onMath.get("perplexity").get("math").asDouble()) * onMath.get("tokens").asLong()
                + Math.log(onCode.get("perplexity").get("code").asDouble()) * onCode.get("tokens").asLong();
        assertEquals(onMath.get("tokens").asLong() + onCode.get("tokens").asLong(), e.get("tokens").asLong());
        assertEquals(nll / e.get("tokens").asLong(), Math.log(e.get("perplexity").get("learned-per-request").asDouble()),
                1e-6, e.toString());

        // complete: requests that name no adapter are routed per request, beside ones that name theirs
        StringBuilder in = new StringBuilder();
        Map<String, String> domainOf = new HashMap<>();
        for (int i = 0; i < 4; i++) {
            for (String d : List.of("math", "code")) {
                String prompt = text(d.equals("math") ? MATH : CODE, 5000 + i, 12);
                String id = d + i;
                domainOf.put(id, d);
                in.append(JSON.createObjectNode().put("custom_id", id).put("prompt", prompt).put("max_tokens", 6)
                        .put("temperature", 0)).append('\n');
                in.append(JSON.createObjectNode().put("custom_id", id + "-named").put("prompt", prompt)
                        .put("max_tokens", 6).put("temperature", 0).put("adapter", d)).append('\n');
            }
        }
        Path input = dir.resolve("requests.jsonl");
        Files.writeString(input, in);
        Path output = dir.resolve("results.jsonl");
        List<String> c = family("complete");
        c.addAll(List.of("--router", router.toString(), "--parallel", "4", "-c", "512", "--show-routes",
                "--progress", "none", "-o", output.toString(), input.toString()));
        Run complete = run(c.toArray(String[]::new));
        assertEquals(0, complete.exit(), complete.err());
        Map<String, JsonNode> results = new HashMap<>();
        for (String line : Files.readAllLines(output)) {
            JsonNode r = JSON.readTree(line);
            results.put(r.get("custom_id").asText(), r);
        }
        for (var entry : domainOf.entrySet()) {
            JsonNode routed = results.get(entry.getKey());
            JsonNode named = results.get(entry.getKey() + "-named");
            assertEquals(named.get("text").asText(), routed.get("text").asText(), entry.getKey());
            JsonNode routes = routed.get("routes");
            assertTrue(routes.size() > 0, routed.toString());
            for (JsonNode t : routes) {
                assertEquals("[\"" + entry.getValue() + "\"]", t.get("adapters").toString(), routed.toString());
            }
        }
    }

    @Test
    void perplexityScoresEachRecordWithTheAdapterItsRequestGets() throws IOException {
        StringBuilder records = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            records.append(JSON.createObjectNode().put("set", "math").put("text", text(MATH, 7000 + i, 30)))
                    .append('\n');
            records.append(JSON.createObjectNode().put("set", "code").put("text", text(CODE, 8000 + i, 30)))
                    .append('\n');
        }
        Path evalFile = dir.resolve("eval.jsonl");
        Files.writeString(evalFile, records);
        Map<String, JsonNode> byRouting = new HashMap<>();
        for (String how : List.of("router", "math", "code")) {
            List<String> args = family("perplexity");
            args.addAll(List.of("-f", evalFile.toString(), "--json"));
            args.addAll(how.equals("router") ? List.of("--router", router.toString()) : List.of("--adapter", how));
            Run p = run(args.toArray(String[]::new));
            assertEquals(0, p.exit(), p.err());
            byRouting.put(how, JSON.readTree(p.out()).get("sets"));
        }
        JsonNode routed = byRouting.get("router");
        for (String set : List.of("math", "code")) {
            assertEquals(1.0, routed.get(set).get("label_accuracy").asDouble(), 1e-9, routed.toString());
            // every record of the set went to the set's adapter: the same perplexity as naming it
            assertEquals(byRouting.get(set).get(set).get("perplexity").asDouble(),
                    routed.get(set).get("perplexity").asDouble(), 1e-6, routed.toString());
        }
    }
}
