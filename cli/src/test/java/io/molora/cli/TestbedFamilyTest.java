package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The committed testbed family (models/testbed, docs/TESTBED.md) on real text, through the real CLI: the adapters
 * specialise, the learned router pays off on mixed lines, molora computes what PyTorch computed, and train-router
 * learns a useful router from a slice of the training text. Small fixed subsets of the held-out eval set (the first
 * records of each set; the passes shared by several tests are made once), to keep the class short.
 */
class TestbedFamilyTest {
    private static final int PER_SET = 32;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    private static Path family;
    private static Path subset;
    private static List<String> loras;

    @BeforeAll
    static void family() throws IOException {
        family = Path.of(System.getProperty("molora.repo.root", "..")).resolve("models/testbed").toAbsolutePath();
        assertTrue(Files.isRegularFile(family.resolve("manifest.json")), "no testbed family at " + family);
        Map<String, Integer> taken = new HashMap<>();
        List<String> lines = new ArrayList<>();
        for (String line : Files.readAllLines(family.resolve("testbed-eval.jsonl"), StandardCharsets.UTF_8)) {
            String set = JSON.readTree(line).get("set").asText();
            if (taken.merge(set, 1, Integer::sum) <= PER_SET) {
                lines.add(line);
            }
        }
        subset = Files.write(dir.resolve("subset.jsonl"), lines, StandardCharsets.UTF_8);
        loras = new ArrayList<>();
        for (String d : TestbedFamily.DOMAINS) {
            loras.add("--lora");
            loras.add(d + "=" + family.resolve("testbed-lora-" + d + ".gguf"));
        }
    }

    /** Passes already made, by their arguments: the tests share the base and single-adapter passes. */
    private static final Map<List<String>, JsonNode> PASSES = new HashMap<>();

    private static synchronized JsonNode perplexity(Path file, String... extra) throws IOException {
        List<String> key = new ArrayList<>(List.of(file.toString()));
        key.addAll(List.of(extra));
        JsonNode done = PASSES.get(key);
        if (done == null) {
            done = measure(file, extra);
            PASSES.put(key, done);
        }
        return done;
    }

    private static JsonNode measure(Path file, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("perplexity", "-m", family.resolve(TestbedFamily.BASE).toString(),
                "-f", file.toString(), "--json"));
        if (extra.length > 0) {
            args.addAll(loras);
            args.addAll(List.of(extra));
        }
        CliTest.Run r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        return JSON.readTree(r.out()).get("sets");
    }

    @Test
    void moloraComputesThePerplexityPyTorchComputed() throws IOException {
        JsonNode torch = JSON.readTree(family.resolve("manifest.json").toFile()).get("perplexity_pytorch").get("base");
        JsonNode ours = perplexity(family.resolve("testbed-eval.jsonl"));
        for (String set : List.of("code", "prose", "math", "mixed")) {
            double pt = torch.get(set).asDouble();
            double m = ours.get(set).get("perplexity").asDouble();
            assertTrue(Math.abs(m / pt - 1) <= 0.01, set + ": molora " + m + " vs PyTorch " + pt);
            assertEquals(0, ours.get(set).get("tokenizer_mismatches").asInt(), set + ": tokenization differs");
        }
    }

    @Test
    void eachAdapterLowersItsOwnDomainsPerplexity() throws IOException {
        JsonNode base = perplexity(subset);
        for (String d : TestbedFamily.DOMAINS) {
            double own = perplexity(subset, "--adapter", d).get(d).get("perplexity").asDouble();
            double b = base.get(d).get("perplexity").asDouble();
            assertTrue(own < 0.9 * b, d + " adapter: " + own + " vs base " + b);
        }
    }

    /**
     * The family's TT-LoRA experts (testbed/ttlora.py; written as the rank-8 LoRAs they are) give in molora the
     * perplexity their tensor-train forward gave in PyTorch, and their request router (TT-LoRA MoE's) sends the
     * records of each domain's set to that domain's expert.
     */
    @Test
    void theTtLoraExpertsAndTheirRequestRouterRunAsInPyTorch() throws IOException {
        JsonNode record = JSON.readTree(family.resolve("ttlora.json").toFile());
        List<String> experts = new ArrayList<>(List.of("perplexity", "-m", family.resolve(TestbedFamily.BASE).toString(),
                "--json"));
        for (String d : TestbedFamily.DOMAINS) {
            experts.addAll(List.of("--lora", d + "=" + family.resolve("testbed-ttlora-" + d + ".gguf")));
        }
        for (String d : TestbedFamily.DOMAINS) {
            List<String> args = new ArrayList<>(experts);
            args.addAll(List.of("-f", family.resolve("testbed-eval.jsonl").toString(), "--adapter", d));
            CliTest.Run r = CliTest.run(args.toArray(String[]::new));
            assertEquals(0, r.exit(), r.err());
            JsonNode ours = JSON.readTree(r.out()).get("sets");
            JsonNode torch = record.get("experts").get(d).get("perplexity_pytorch");
            for (String set : List.of("code", "prose", "math", "mixed")) {
                double pt = torch.get(set).asDouble();
                double m = ours.get(set).get("perplexity").asDouble();
                assertTrue(Math.abs(m / pt - 1) <= 0.01, d + " expert on " + set + ": molora " + m + " vs PyTorch " + pt);
            }
        }
        List<String> args = new ArrayList<>(experts);
        args.addAll(List.of("-f", subset.toString(), "--router", family.resolve("router-ttlora.gguf").toString()));
        CliTest.Run r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        JsonNode routed = JSON.readTree(r.out()).get("sets");
        for (String d : TestbedFamily.DOMAINS) {
            double acc = routed.get(d).get("label_accuracy").asDouble();
            assertTrue(acc >= 0.9, "request router on the " + d + " set: " + acc + " of tokens on the " + d + " expert");
        }
    }

    /**
     * The family's CoMoL adapter (testbed/comol.py; its cores gated per token inside the graph by patch 0011) gives in
     * molora the perplexity PyTorch computed with its learned gate, and not the one PyTorch computed with every core
     * weighted alike: the gate is what runs. Routing it among other adapters is refused with one line.
     */
    @Test
    void theCoMoLAdapterRunsItsInGraphGateAsInPyTorch() throws IOException {
        JsonNode record = JSON.readTree(family.resolve("comol.json").toFile());
        String comol = "comol=" + family.resolve("testbed-comol.gguf");
        CliTest.Run r = CliTest.run("perplexity", "-m", family.resolve(TestbedFamily.BASE).toString(), "--lora", comol,
                "-f", family.resolve("testbed-eval.jsonl").toString(), "--json");
        assertEquals(0, r.exit(), r.err());
        JsonNode ours = JSON.readTree(r.out()).get("sets");
        double widest = 0;
        for (String set : List.of("code", "prose", "math", "mixed")) {
            double pt = record.get("perplexity_pytorch").get(set).asDouble();
            double uniform = record.get("perplexity_pytorch_uniform_gate").get(set).asDouble();
            double m = ours.get(set).get("perplexity").asDouble();
            assertTrue(Math.abs(m / pt - 1) <= 0.01, set + ": molora " + m + " vs PyTorch " + pt);
            assertTrue(Math.abs(m - pt) < Math.abs(m - uniform),
                    set + ": molora " + m + " is nearer the uniform gate's " + uniform + " than the gate's " + pt);
            widest = Math.max(widest, Math.abs(uniform / pt - 1));
        }
        assertTrue(widest > 0.02, "the uniform gate is within " + widest + " of the learned one: the check is blind");
        List<String> routed = new ArrayList<>(List.of("perplexity", "-m", family.resolve(TestbedFamily.BASE).toString(),
                "--lora", "code=" + family.resolve("testbed-lora-code.gguf"),
                "--lora", "prose=" + family.resolve("testbed-lora-prose.gguf"), "--lora", "math="
                + family.resolve("testbed-comol.gguf"), "--routes", family.resolve("vocab-router.json").toString(),
                "-f", subset.toString()));
        CliTest.Run refused = CliTest.run(routed.toArray(String[]::new));
        assertEquals(1, refused.exit(), refused.out() + refused.err());
        assertTrue(refused.err().startsWith("molora: error: adapter 'math' is a CoMoL adapter"), refused.err());
    }

    /**
     * The testbed's SAMoRA adapter (testbed/samora.py, patch 0012): molora's perplexity with it is PyTorch's, with the
     * unseen task's scale on every set and with each domain's own task (--samora-task) on its set, and not that of
     * every expert weighted alike.
     */
    @Test
    void theSAMoRAAdapterRunsItsInGraphGateAsInPyTorch() throws IOException {
        JsonNode record = JSON.readTree(family.resolve("samora.json").toFile());
        String samora = "samora=" + family.resolve("testbed-samora.gguf");
        JsonNode unseen = samoraPerplexity(samora, family.resolve("testbed-eval.jsonl"));
        double widest = 0;
        for (String set : List.of("code", "prose", "math", "mixed")) {
            double pt = record.get("perplexity_pytorch").get(set).asDouble();
            double uniform = record.get("perplexity_pytorch_uniform_gate").get(set).asDouble();
            double m = unseen.get(set).get("perplexity").asDouble();
            assertTrue(Math.abs(m / pt - 1) <= 0.01, set + ": molora " + m + " vs PyTorch " + pt);
            assertTrue(Math.abs(m - pt) < Math.abs(m - uniform),
                    set + ": molora " + m + " is nearer the uniform gate's " + uniform + " than the gate's " + pt);
            widest = Math.max(widest, Math.abs(uniform / pt - 1));
        }
        assertTrue(widest > 0.02, "the uniform gate is within " + widest + " of the learned one: the check is blind");
        for (String task : TestbedFamily.DOMAINS) {
            List<String> lines = new ArrayList<>();
            for (String line : Files.readAllLines(family.resolve("testbed-eval.jsonl"), StandardCharsets.UTF_8)) {
                if (JSON.readTree(line).get("set").asText().equals(task)) {
                    lines.add(line);
                }
            }
            Path one = Files.write(dir.resolve("eval-" + task + ".jsonl"), lines, StandardCharsets.UTF_8);
            double pt = record.get("perplexity_pytorch_own_task").get(task).asDouble();
            double m = samoraPerplexity(samora, one, "--samora-task", task).get(task).get("perplexity").asDouble();
            assertTrue(Math.abs(m / pt - 1) <= 0.01, task + " with its task: molora " + m + " vs PyTorch " + pt);
        }
    }

    private static JsonNode samoraPerplexity(String lora, Path file, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("perplexity", "-m", family.resolve(TestbedFamily.BASE).toString(),
                "--lora", lora, "-f", file.toString(), "--json"));
        args.addAll(List.of(extra));
        CliTest.Run r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        return JSON.readTree(r.out()).get("sets");
    }

    @Test
    void theLearnedRouterBeatsTheBestSingleAdapterPerSequenceOnMixedLines() throws IOException {
        String router = TestbedFamily.router(family).toString();
        double routed = perplexity(subset, "--router", router).get("mixed").get("nll_per_token").asDouble();
        double best = bestSingleAdapterPerSequence(subset, "mixed");
        assertTrue(routed < best, "learned router " + routed + " vs best single per sequence " + best + " NLL/token");
    }

    /**
     * NLL/token of the best of base and each adapter alone, chosen per record after seeing its loss: an oracle no
     * single-adapter setting can beat, and which no router that picks one adapter per request can beat either.
     */
    private static double bestSingleAdapterPerSequence(Path file, String set) throws IOException {
        List<JsonNode> passes = new ArrayList<>(List.of(perplexity(file).get(set)));
        for (String d : TestbedFamily.DOMAINS) {
            passes.add(perplexity(file, "--adapter", d).get(set));
        }
        double best = 0;
        for (int q = 0; q < passes.get(0).get("record_nll").size(); q++) {
            double min = Double.POSITIVE_INFINITY;
            for (JsonNode p : passes) {
                min = Math.min(min, p.get("record_nll").get(q).asDouble());
            }
            best += min;
        }
        return best / passes.get(0).get("tokens_scored").asLong();
    }

    /**
     * On natural documents (a fixed slice of natural-eval.jsonl, which no training or selection step read) the
     * committed router beats the best single adapter per document, and so the base and each adapter alone; it beats
     * the three adapters at once too, with fewer route switches than one per ten tokens.
     */
    @Test
    void onNaturalDocumentsTheLearnedRouterBeatsTheBestSingleAdapterPerDocumentAndSwitchesRarely() throws IOException {
        List<String> lines = Files.readAllLines(family.resolve("natural-eval.jsonl"), StandardCharsets.UTF_8);
        Path natural = Files.write(dir.resolve("natural-slice.jsonl"), lines.subList(0, 16), StandardCharsets.UTF_8);
        JsonNode routed = perplexity(natural, "--router", TestbedFamily.router(family).toString()).get("natural");
        double best = bestSingleAdapterPerSequence(natural, "natural");
        // every --lora adapter on every token (no --adapter, no router)
        List<String> all = new ArrayList<>(List.of("perplexity", "-m", family.resolve(TestbedFamily.BASE).toString(),
                "-f", natural.toString(), "--json"));
        all.addAll(loras);
        CliTest.Run r = CliTest.run(all.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        double uniform = JSON.readTree(r.out()).get("sets").get("natural").get("nll_per_token").asDouble();
        double nll = routed.get("nll_per_token").asDouble();
        assertTrue(nll < best, "learned router " + nll + " vs best single adapter per document " + best + " NLL/token");
        assertTrue(nll < uniform, "learned router " + nll + " vs all adapters at once " + uniform + " NLL/token");
        double switches = routed.get("route_switches_per_100_tokens").asDouble();
        assertTrue(switches < 10, "route switches per 100 tokens: " + switches);
    }

    @Test
    void trainRouterOnATrainingSliceLearnsARouterThatBeatsBase() throws IOException {
        Path router = dir.resolve("slice-router.gguf");
        List<String> args = new ArrayList<>(List.of("train-router", "-m", family.resolve(TestbedFamily.BASE).toString(),
                "--corpus", family.resolve("router-train-slice.txt").toString(), "--epochs", "8", "-o", router.toString()));
        args.addAll(loras);
        CliTest.Run r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        double base = perplexity(subset).get("mixed").get("nll_per_token").asDouble();
        double routed = perplexity(subset, "--router", router.toString()).get("mixed").get("nll_per_token").asDouble();
        assertTrue(routed < base, "router trained on the slice " + routed + " vs base " + base + " NLL/token");
    }

    @Test
    void theDemoRoutesTheFamilyAndShowsWhichAdapterServedWhat() {
        System.setProperty("molora.home", family.getParent().getParent().toString());
        try {
            CliTest.Run routed = CliTest.run("demo", "-n", "24", "--temp", "0");
            assertEquals(0, routed.exit(), routed.err());
            assertTrue(routed.err().contains("every token routed by router-"), routed.err());
            assertTrue(routed.err().contains("tokens per route"), routed.err());
            // not a terminal: the trace marks each run of one route, and more than one adapter serves this prompt
            long adaptersSeen = TestbedFamily.DOMAINS.stream().filter(d -> routed.out().contains("[" + d + "]")).count();
            assertTrue(adaptersSeen >= 2, "routes shown: " + routed.out());

            CliTest.Run base = CliTest.run("demo", "-n", "24", "--temp", "0", "--no-routing");
            assertEquals(0, base.exit(), base.err());
            assertTrue(base.out().startsWith(DemoCommand.MIXED_PROMPT), base.out());
            assertTrue(!base.err().contains("tokens per route") && !base.out().contains("[code]"), base.out());

            CliTest.Run random = CliTest.run("demo", "-n", "4", "--random");
            assertEquals(0, random.exit(), random.err());
            assertTrue(random.err().contains("RANDOM weights"), random.err());
        } finally {
            System.clearProperty("molora.home");
        }
    }
}
