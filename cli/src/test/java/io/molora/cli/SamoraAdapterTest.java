package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.gguf.AdapterInfo;
import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufArray;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufTensorInfo;
import io.molora.gguf.GgufValue;
import io.molora.gguf.GgufWriter;
import io.molora.gguf.TensorSources;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SAMoRA adapters (patch 0012) against the plain LoRA path they reduce to: a SAMoRA file with one expert is the
 * testbed's code LoRA with its B and A as they are, a key the softmax over one expert ignores, and alpha / r (64 / 32)
 * moved into the task scale tau. Its gate is then exactly 1 and its update the LoRA's, so molora's perplexity with it
 * equals the code adapter's; with the unseen task's tau set to 0 it equals the base model's, and --samora-task picks
 * the task's scale by name.
 */
class SamoraAdapterTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    private static Path family;
    private static Path text;

    @BeforeAll
    static void texts() throws IOException {
        family = Path.of(System.getProperty("molora.repo.root", "..")).resolve("models/testbed").toAbsolutePath();
        List<String> lines = new ArrayList<>();
        for (String line : Files.readAllLines(family.resolve("testbed-eval.jsonl"), StandardCharsets.UTF_8)) {
            if (JSON.readTree(line).get("set").asText().equals("code") && lines.size() < 6) {
                lines.add(line);
            }
        }
        text = Files.write(dir.resolve("code.jsonl"), lines, StandardCharsets.UTF_8);
    }

    /** The code LoRA as a one-expert SAMoRA adapter with one task, "code", of scale {@code task}; unseen: {@code unseen}. */
    private static Path oneExpert(String name, float task, float unseen) throws IOException {
        Path out = dir.resolve(name + ".gguf");
        try (GgufFile lora = GgufFile.open(family.resolve("testbed-lora-code.gguf"))) {
            float alphaOverRank = lora.number("adapter.lora.alpha").orElseThrow().floatValue()
                    / AdapterInfo.of(lora).pairs().get(0).rank();
            GgufWriter w = new GgufWriter().put("general.architecture", "llama").put("general.type", "adapter")
                    .put("adapter.type", "samora").put("adapter.lora.alpha", GgufValue.of(0f))
                    .put(AdapterInfo.TASKS_KEY, GgufValue.of(GgufArray.ofStrings(List.of("code"))));
            for (GgufTensorInfo t : lora.tensors()) {
                w.addTensor(t.name(), t.type(), t.shape(), TensorSources.ofBytes(
                        lora.tensorData(t).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
                if (t.name().endsWith(".lora_a")) {
                    String base = t.name().substring(0, t.name().length() - ".lora_a".length());
                    int r = (int) t.dim(1);
                    float[] key = new float[r];
                    key[0] = 1f;
                    w.addTensor(base + ".samora_keys", GgmlType.F32, new long[] {r, 1},
                            TensorSources.ofFloats(GgmlType.F32, r, key));
                    w.addTensor(base + ".samora_tau", GgmlType.F32, new long[] {2}, TensorSources.ofFloats(GgmlType.F32,
                            2, new float[] {task * alphaOverRank, unseen * alphaOverRank}));
                }
            }
            w.write(out);
        }
        return out;
    }

    private static JsonNode perplexity(String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("perplexity", "-m", family.resolve(TestbedFamily.BASE).toString(),
                "-f", text.toString(), "--json"));
        args.addAll(List.of(extra));
        CliTest.Run r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        return JSON.readTree(r.out()).get("sets").get("code");
    }

    private static double nll(JsonNode set) {
        return set.get("nll_per_token").asDouble();
    }

    @Test
    void aOneExpertSamoraAdapterIsItsLora() throws IOException {
        double lora = nll(perplexity("--lora", "code=" + family.resolve("testbed-lora-code.gguf")));
        double base = nll(perplexity());
        double samora = nll(perplexity("--lora", "s=" + oneExpert("one-expert", 1f, 1f)));
        assertEquals(lora, samora, 1e-6 * lora, "one-expert SAMoRA " + samora + " vs its LoRA " + lora);
        assertTrue(Math.abs(lora - base) > 0.1, "the LoRA " + lora + " barely moves the base " + base);
    }

    @Test
    void theTaskPicksTheScale() throws IOException {
        Path tasked = oneExpert("tasked", 1f, 0f);
        double base = nll(perplexity());
        double lora = nll(perplexity("--lora", "code=" + family.resolve("testbed-lora-code.gguf")));
        assertEquals(base, nll(perplexity("--lora", "s=" + tasked)), 1e-6 * base, "unseen task: tau 0 is the base");
        assertEquals(lora, nll(perplexity("--lora", "s=" + tasked, "--samora-task", "code")), 1e-6 * lora,
                "task code: tau 1 is the LoRA");

        CliTest.Run unknown = CliTest.run("perplexity", "-m", family.resolve(TestbedFamily.BASE).toString(),
                "-f", text.toString(), "--lora", "s=" + tasked, "--samora-task", "math");
        assertNotEquals(0, unknown.exit());
        assertTrue(unknown.err().contains("SAMoRA adapter 's' has no task 'math' (its tasks: code)"), unknown.err());
        CliTest.Run noSamora = CliTest.run("perplexity", "-m", family.resolve(TestbedFamily.BASE).toString(),
                "-f", text.toString(), "--lora", "code=" + family.resolve("testbed-lora-code.gguf"),
                "--samora-task", "code");
        assertNotEquals(0, noSamora.exit());
        assertTrue(noSamora.err().contains("none of the adapters is a SAMoRA adapter"), noSamora.err());
    }
}
