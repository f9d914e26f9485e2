package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.gguf.GgmlType;
import io.molora.gguf.synth.LlamaConfig;
import io.molora.gguf.synth.LoraSpec;
import io.molora.gguf.synth.LoraTarget;
import io.molora.gguf.synth.SyntheticLora;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The CLI driven as a user drives it: arguments in, stdout/stderr and exit code out. */
class CliTest {
    @TempDir
    static Path dir;
    private static Path model;
    private static Path adapter;
    private static Path otherShapeAdapter;

    @BeforeAll
    static void files() throws IOException {
        model = NativeTestSupport.writeTinyModel(dir, 5);
        adapter = NativeTestSupport.writeLora(dir, LoraSpec.attention("code", 4, 1));
        // an adapter for a model with another embedding size: must be refused, naming the tensor
        LlamaConfig wider = new LlamaConfig("wider", NativeTestSupport.tinyConfig().vocabSize(), 128, 2, 256, 4, 2, 512,
                10000f, 1e-5f, GgmlType.F32);
        otherShapeAdapter = dir.resolve("wider.gguf");
        SyntheticLora.random(wider, new LoraSpec("wide", 4, 4f, EnumSet.of(LoraTarget.Q), 2, 1f, GgmlType.F32))
                .write(otherShapeAdapter);
    }

    record Run(int exit, String out, String err) {}

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = Main.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void inspectDescribesAModelAsJson() throws IOException {
        Run r = run("inspect", model.toString(), "--json");
        assertEquals(0, r.exit(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals("llama", json.get("architecture").asText());
        assertEquals(32000, json.get("vocab_size").asInt());
        assertEquals(64, json.get("embedding_length").asInt());
        assertEquals(2, json.get("layers").asInt());
        assertTrue(json.get("quantization").has("F32"));
    }

    @Test
    void inspectChecksAnAdapterAgainstItsBase() throws IOException {
        Run fits = run("inspect", adapter.toString(), "--model", model.toString(), "--json");
        assertEquals(0, fits.exit(), fits.err());
        JsonNode json = new ObjectMapper().readTree(fits.out());
        assertEquals("lora", json.get("adapter_type").asText());
        assertEquals(4, json.get("ranks").get(0).asInt());
        assertTrue(json.get("compatible").asBoolean());

        Run mismatch = run("inspect", otherShapeAdapter.toString(), "--model", model.toString());
        assertEquals(1, mismatch.exit());
        assertTrue(mismatch.out().contains("blk.0.attn_q.weight"), mismatch.out());
    }

    @Test
    void brokenInputGivesOneLineErrorsAndExitCodes() throws IOException {
        Path notGguf = Files.writeString(dir.resolve("notes.txt"), "hello");
        Run r = run("inspect", notGguf.toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().startsWith("molora: error: ") && r.err().contains("not GGUF"), r.err());

        Path truncated = dir.resolve("truncated.gguf");
        Files.write(truncated, java.util.Arrays.copyOf(Files.readAllBytes(model), 4096));
        Run t = run("generate", "-m", truncated.toString(), "-p", "hi");
        assertEquals(1, t.exit());
        assertTrue(t.err().contains("not valid GGUF"), t.err());

        Run missing = run("generate", "-m", dir.resolve("nope.gguf").toString(), "-p", "hi");
        assertEquals(1, missing.exit());
        assertTrue(missing.err().contains("not found"), missing.err());

        assertEquals(2, run("generate", "--no-such-flag").exit());
        assertEquals(2, run("generate", "-p", "hi").exit(), "missing -m is a command-line error");
    }

    @Test
    void routerAndRoutesTogetherIsACommandLineErrorInEveryCommand() {
        String[] both = {"-m", model.toString(), "--lora", "code=" + adapter, "--router", "r.gguf", "--routes", "v.json"};
        for (String[] command : new String[][] {{"generate", "-p", "hi"}, {"chat"}, {"complete", "-o", "out.jsonl", "in"},
                {"perplexity", "-f", "text.txt"}}) {
            List<String> args = new ArrayList<>(List.of(command));
            args.addAll(List.of(both));
            Run r = run(args.toArray(String[]::new));
            assertEquals(2, r.exit(), command[0] + ": " + r.err());
            assertTrue(r.err().contains("not both"), command[0] + ": " + r.err());
        }
    }

    @Test
    void generateStreamsThePromptAndItsContinuation() {
        Run r = run("generate", "-m", model.toString(), "-p", "Once upon a time", "-n", "12", "--temp", "0");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().startsWith("Once upon a time"), r.out());
        assertTrue(r.out().length() > "Once upon a time".length() + 5, "no continuation: " + r.out());
        assertTrue(r.err().contains("12 generated"), r.err());
        // greedy is deterministic
        assertEquals(r.out(), run("generate", "-m", model.toString(), "-p", "Once upon a time", "-n", "12",
                "--temp", "0").out());
    }
}
