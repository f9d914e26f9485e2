package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.adapters.AdapterSpec;
import io.molora.adapters.gate.Gate;
import io.molora.adapters.gate.RouterFile;
import io.molora.adapters.gate.TokenEmbeddings;
import io.molora.gguf.synth.LoraSpec;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command-line rows of issue 26's hostile-input probe: one request's mix weight does not fail its batch, files
 * that are not text or that start with a byte order mark, perplexity over nothing, router files damaged or inspected,
 * a prompt far beyond the context. Each asserts what the user sees: the exit code, the one line, the records.
 */
class HostileInputTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path model;
    static Path code;
    static Path router;

    @BeforeAll
    static void files() throws IOException {
        model = NativeTestSupport.writeTinyModel(dir, 5);
        code = NativeTestSupport.writeLora(dir, LoraSpec.attention("code", 4, 1));
        router = dir.resolve("router.gguf");
        try (TokenEmbeddings emb = TokenEmbeddings.open(model)) {
            RouterFile.save(router, Gate.untrained(emb.dim(), 8, 2, 7),
                    RouterFile.identity(List.of(new AdapterSpec("code", code, 1f)), emb, RouterFile.FEATURES_TOKEN));
        }
    }

    static Map<String, JsonNode> records(Path out) throws IOException {
        Map<String, JsonNode> m = new HashMap<>();
        for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
            JsonNode r = JSON.readTree(line);
            m.put(r.get("custom_id").asText(), r);
        }
        return m;
    }

    // --- #1: one request's weight, the others' answers -------------------------------------------------------------

    @Test
    void aRequestWhoseWeightMakesNaNFailsAloneInItsBatch() throws IOException {
        Path family = Path.of(System.getProperty("molora.repo.root", "..")).resolve("models/testbed").toAbsolutePath();
        List<String> common = List.of("complete", "-m", family.resolve("testbed-base.gguf").toString(),
                "--lora", "code=" + family.resolve("testbed-lora-code.gguf"),
                "--lora", "prose=" + family.resolve("testbed-lora-prose.gguf"),
                "--lora", "math=" + family.resolve("testbed-lora-math.gguf"),
                "--router", family.resolve("router-unlabelled.gguf").toString(),
                "--temp", "0", "-t", "1", "--progress", "none", "-np", "4", "-n", "24");
        String good = "{\"custom_id\":\"routed\",\"prompt\":\"def add(a, b):\"}\n"
                + "{\"custom_id\":\"prose\",\"prompt\":\"The cat sat on\",\"adapter\":\"prose\"}\n";
        String bad = "{\"custom_id\":\"bad\",\"prompt\":\"x\",\"adapters\":{\"code\":100}}\n"
                + "{\"custom_id\":\"too-heavy\",\"prompt\":\"x\",\"adapters\":{\"code\":1e5}}\n";
        Path alone = Files.writeString(dir.resolve("alone.jsonl"), good);
        Path mixed = Files.writeString(dir.resolve("mixed.jsonl"), bad + good);
        Path outAlone = dir.resolve("alone.out.jsonl");
        Path outMixed = dir.resolve("mixed.out.jsonl");
        assertEquals(0, run(common, "-o", outAlone.toString(), alone.toString()).exit());
        CliTest.Run r = run(common, "-o", outMixed.toString(), mixed.toString());
        assertEquals(1, r.exit(), "the failed lines make the run exit 1 at the end: " + r.err());
        Map<String, JsonNode> a = records(outAlone);
        Map<String, JsonNode> m = records(outMixed);
        assertTrue(m.get("bad").get("error").get("message").asText().contains("NaN or infinite"), m.get("bad").toString());
        assertTrue(m.get("too-heavy").get("error").get("message").asText().contains("within +-1e4"),
                m.get("too-heavy").toString());
        for (String id : List.of("routed", "prose")) {
            assertEquals(a.get(id).get("text").asText(), m.get(id).get("text").asText(), id + " beside the bad line");
        }
    }

    private static CliTest.Run run(List<String> common, String... more) {
        List<String> args = new java.util.ArrayList<>(common);
        args.addAll(List.of(more));
        return CliTest.run(args.toArray(String[]::new));
    }

    // --- #5: perplexity over nothing ---------------------------------------------------------------------------------

    @Test
    void perplexityRefusesToScoreNothing() throws IOException {
        Path text = Files.writeString(dir.resolve("small.txt"), "one two three four five six seven eight nine ten ".repeat(8));
        CliTest.Run c1 = CliTest.run("perplexity", "-m", model.toString(), "-f", text.toString(), "-c", "1");
        assertEquals(2, c1.exit(), c1.err());
        assertTrue(c1.err().contains("-c 1 scores no token") && c1.err().contains("use -c 3 or more"), c1.err());
        assertEquals("", c1.out(), "no perplexity of 1.0 over 0 tokens");
        Path records = Files.writeString(dir.resolve("one-token.jsonl"), "{\"set\":\"s\",\"text\":\"\"}\n");
        CliTest.Run empty = CliTest.run("perplexity", "-m", model.toString(), "-f", records.toString());
        assertEquals(1, empty.exit(), empty.err());
        assertTrue(empty.err().contains("no eval records of two tokens or more"), empty.err());
    }

    // --- #8, #11: bytes that are not text, a byte order mark ---------------------------------------------------------

    @Test
    void aFileThatIsNotTextIsNamedWithTheOffsetOfItsFirstBadByte() throws IOException {
        byte[] junk = "hello world, then junk: ".getBytes(StandardCharsets.UTF_8);
        byte[] bytes = java.util.Arrays.copyOf(junk, junk.length + 2);
        bytes[junk.length] = (byte) 0xFF;
        bytes[junk.length + 1] = (byte) 0xFE;
        Path bin = Files.write(dir.resolve("junk.bin"), bytes);
        CliTest.Run p = CliTest.run("perplexity", "-m", model.toString(), "-f", bin.toString(), "-c", "16");
        assertEquals(1, p.exit(), p.err());
        assertEquals("molora: error: " + bin + ": not valid UTF-8 (byte " + (junk.length + 1) + " is 0xFF)",
                p.err().lines().findFirst().orElse(""));
        Path corpus = Files.createDirectories(dir.resolve("junkdir"));
        Files.writeString(corpus.resolve("a.txt"), "plain text\n");
        Files.write(corpus.resolve("b.bin"), bytes);
        CliTest.Run t = CliTest.run("train-router", "-m", model.toString(), "--lora", "code=" + code, "--corpus",
                corpus.toString(), "-o", dir.resolve("junk-router.gguf").toString(), "--epochs", "1");
        assertEquals(1, t.exit(), t.err());
        assertTrue(t.err().contains(corpus.resolve("b.bin") + ": not valid UTF-8 (byte " + (junk.length + 1)), t.err());
    }

    @Test
    void aByteOrderMarkIsNotPartOfTheFirstPrompt() throws IOException {
        byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
        String lines = "Once upon a time\nThe quick brown fox\n";
        String jsonl = "{\"custom_id\":\"first\",\"prompt\":\"Once upon a time\"}\n";
        Path plainLines = Files.writeString(dir.resolve("plain.txt"), lines);
        Path bomLines = Files.write(dir.resolve("bom.txt"), concat(bom, lines.getBytes(StandardCharsets.UTF_8)));
        Path bomJsonl = Files.write(dir.resolve("bom.jsonl"), concat(bom, jsonl.getBytes(StandardCharsets.UTF_8)));
        List<String> common = List.of("complete", "-m", model.toString(), "--temp", "0", "-t", "1", "-n", "6",
                "--progress", "none");
        Path out1 = dir.resolve("plain.out.jsonl");
        Path out2 = dir.resolve("bom.out.jsonl");
        Path out3 = dir.resolve("bomjsonl.out.jsonl");
        assertEquals(0, run(common, "--lines", "-o", out1.toString(), plainLines.toString()).exit());
        assertEquals(0, run(common, "--lines", "-o", out2.toString(), bomLines.toString()).exit());
        CliTest.Run j = run(common, "-o", out3.toString(), bomJsonl.toString());
        assertEquals(0, j.exit(), "the first JSONL line is read, not an error record: " + j.err());
        List<String> texts1 = Files.readAllLines(out1).stream().map(HostileInputTest::text).sorted().toList();
        List<String> texts2 = Files.readAllLines(out2).stream().map(HostileInputTest::text).sorted().toList();
        assertEquals(texts1, texts2, "the same completions with and without the mark");
        assertTrue(texts1.contains(text(Files.readAllLines(out3).get(0))), "the JSONL line's prompt is the same text");
    }

    private static String text(String record) {
        try {
            return JSON.readTree(record).get("text").asText();
        } catch (IOException e) {
            throw new AssertionError(record, e);
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] c = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    // --- #10: router files --------------------------------------------------------------------------------------------

    @Test
    void aDamagedRouterIsRefusedNamingTheFileAndTheField() throws IOException {
        // a NaN in the first gate weight: it loaded, then failed at the first routed token
        byte[] bytes = Files.readAllBytes(router);
        int w1 = dataOffsetOf(bytes, "router.w1");
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putFloat(w1, Float.NaN);
        Path nan = Files.write(dir.resolve("nan-router.gguf"), bytes);
        CliTest.Run g = CliTest.run("generate", "-m", model.toString(), "--lora", "code=" + code, "--router",
                nan.toString(), "-p", "hi", "-n", "2", "-t", "1");
        assertEquals(1, g.exit(), g.err());
        assertTrue(g.err().contains("router " + nan + ": tensor router.w1 has a non-finite value (NaN) at index 0"),
                g.err());
        CliTest.Run i = CliTest.run("inspect", nan.toString());
        assertEquals(1, i.exit(), i.out());
        assertTrue(i.out().contains("tensor router.w1 has a non-finite value"), i.out());
    }

    @Test
    void inspectDescribesARouterFile() throws IOException {
        CliTest.Run i = CliTest.run("inspect", router.toString(), "--model", model.toString());
        assertEquals(0, i.exit(), i.out() + i.err());
        assertTrue(i.out().contains("type: router") && i.out().contains("features: token_embd")
                && i.out().contains("adapters: [code]") && i.out().contains("compatible: true"), i.out());
        Path other = NativeTestSupport.writeTinyModel(Files.createDirectories(dir.resolve("other")), 6);
        CliTest.Run o = CliTest.run("inspect", router.toString(), "--model", other.toString());
        assertEquals(1, o.exit(), o.out());
        assertTrue(o.out().contains("other token embeddings"), o.out());
    }

    /** Where tensor {@code name}'s data starts in a GGUF file molora's writer made (read back with the gguf module). */
    private static int dataOffsetOf(byte[] file, String name) throws IOException {
        Path tmp = Files.write(dir.resolve("probe.gguf"), file);
        try (io.molora.gguf.GgufFile f = io.molora.gguf.GgufFile.open(tmp)) {
            return (int) (f.dataOffset() + f.tensor(name).orElseThrow().offset());
        }
    }

    // --- #13: a prompt far beyond the context ------------------------------------------------------------------------

    @Test
    void aPromptFarBeyondTheContextIsRefusedWithoutTokenizingIt() throws IOException {
        // 4 MB on one line against slots of 256 tokens: tokenizing it took seconds and gigabytes for a "does not fit"
        Path huge = Files.writeString(dir.resolve("huge.txt"), "word ".repeat(800_000) + "\n");
        Path out = dir.resolve("huge.out.jsonl");
        CliTest.Run r = CliTest.run("complete", "-m", model.toString(), "--lines", "-c", "256", "-np", "4", "-t", "1",
                "--progress", "none", "-o", out.toString(), huge.toString());
        assertEquals(1, r.exit(), r.err());
        String message = records(out).values().iterator().next().get("error").get("message").asText();
        assertTrue(message.contains("prompt of 3999999 characters cannot fit in a slot of 256 tokens"), message);
        CliTest.Run g = CliTest.run("generate", "-m", model.toString(), "-c", "256", "-t", "1",
                "-p", "word ".repeat(100_000));
        assertEquals(1, g.exit(), g.err());
        assertTrue(g.err().contains("prompt of 500000 characters cannot fit in the context (256 tokens)"), g.err());
        assertFalse(g.err().contains("tokens does not fit"), "refused by its characters: " + g.err());
    }
}
