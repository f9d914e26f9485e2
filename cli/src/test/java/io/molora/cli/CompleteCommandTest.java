package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.gguf.synth.LoraSpec;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code molora complete} end to end over files, as a user runs it (in process, and as a real child process). */
class CompleteCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    private static Path model;
    private static Path code;
    private static Path math;

    @BeforeAll
    static void files() throws IOException {
        model = NativeTestSupport.writeTinyModel(dir, 5);
        code = NativeTestSupport.writeLora(dir, LoraSpec.attention("code", 4, 1));
        math = NativeTestSupport.writeLora(dir, LoraSpec.attention("math", 4, 2));
    }

    static List<JsonNode> records(Path out) throws IOException {
        List<JsonNode> list = new ArrayList<>();
        for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
            list.add(JSON.readTree(line));  // throws on a torn line
        }
        return list;
    }

    static Map<String, JsonNode> byId(List<JsonNode> records) {
        Map<String, JsonNode> m = new HashMap<>();
        for (JsonNode r : records) {
            assertTrue(m.put(r.get("custom_id").asText(), r) == null, "duplicate record " + r);
        }
        return m;
    }

    @Test
    void jsonlAndTextInputsWithAdaptersErrorsAndResume() throws IOException {
        Path in = Files.createDirectories(dir.resolve("in1"));
        Files.writeString(in.resolve("batch.jsonl"), String.join("\n",
                "{\"custom_id\":\"a\",\"prompt\":\"Once upon a time\",\"max_tokens\":6}",
                "{\"custom_id\":\"b\",\"prompt\":\"The code\",\"adapter\":\"code\",\"max_tokens\":9}",
                "{\"custom_id\":\"c\", this is not json",
                "{\"custom_id\":\"d\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                        + "{\"role\":\"user\",\"content\":\"Hello\"}],\"adapters\":{\"code\":0.5,\"math\":0.5}}",
                "{\"custom_id\":\"e\",\"prompt\":\"x\",\"adapter\":\"nosuch\"}",
                "",
                "{\"custom_id\":\"f\",\"method\":\"POST\",\"url\":\"/v1/completions\",\"body\":{\"prompt\":\"In the body\","
                        + "\"max_tokens\":3,\"adapter\":\"math\",\"temperature\":0.7,\"seed\":3}}",
                "{\"custom_id\":\"a\",\"prompt\":\"duplicate id\"}") + "\n");
        Files.writeString(in.resolve("story.txt"), "A prompt that fills a whole file.\n");
        Path out = dir.resolve("out1/results.jsonl");
        String[] args = {"complete", "-m", model.toString(), "--lora", "code=" + code, "--lora", "math=" + math,
                "--adapter", "none", "--parallel", "3", "-n", "5", "--temp", "0", "--show-routes", "-o", out.toString(),
                in.toString()};
        CliTest.Run r = CliTest.run(args);
        assertEquals(1, r.exit(), "errors in the input make the run fail at the end: " + r.err());
        assertTrue(Files.exists(out), r.err());
        Map<String, JsonNode> res = byId(records(out));
        assertEquals(Set.of("a", "b", "d", "f", in.resolve("story.txt").toString(), in.resolve("batch.jsonl") + ":3",
                "e", "a#dup@" + in.resolve("batch.jsonl") + ":8"), res.keySet());

        JsonNode a = res.get("a");
        assertTrue(a.get("usage").get("completion_tokens").asInt() <= 6);
        assertEquals(Set.of("stop", "length"), Set.of("stop", "length"));
        assertTrue(Set.of("stop", "length").contains(a.get("finish_reason").asText()), a.toString());
        assertEquals(a.get("usage").get("completion_tokens").asInt(), a.get("adapter_tokens").path("none").asInt(), a.toString());
        JsonNode b = res.get("b");
        int bTokens = b.get("usage").get("completion_tokens").asInt();
        assertEquals(bTokens, b.get("adapter_tokens").get("code").asInt(), b.toString());
        assertEquals(bTokens, b.get("routes").size());
        assertEquals("code", b.get("routes").get(0).get("adapters").get(0).asText());
        JsonNode d = res.get("d");
        int dTokens = d.get("usage").get("completion_tokens").asInt();
        assertEquals(dTokens, d.get("adapter_tokens").get("code").asInt(), d.toString());
        assertEquals(dTokens, d.get("adapter_tokens").get("math").asInt(), d.toString());
        assertTrue(d.get("usage").get("prompt_tokens").asInt() > 5, "chat template applied: " + d);
        assertTrue(res.get("f").get("usage").get("completion_tokens").asInt() <= 3);
        assertEquals(res.get("f").get("usage").get("completion_tokens").asInt(),
                res.get("f").get("adapter_tokens").get("math").asInt());

        JsonNode bad = res.get(in.resolve("batch.jsonl") + ":3").get("error");
        assertEquals(3, bad.get("line").asInt());
        assertTrue(bad.get("message").asText().contains("batch.jsonl:3"), bad.toString());
        assertTrue(res.get("e").get("error").get("message").asText().contains("no adapter named 'nosuch'"));

        // a rerun over the same output does nothing new, and still reports the earlier failures
        long before = Files.readAllLines(out).size();
        CliTest.Run again = CliTest.run(args);
        assertEquals(1, again.exit());
        assertTrue(again.err().contains("resuming: 7 of 8"), again.err());
        assertEquals(before, Files.readAllLines(out).size());
    }

    @Test
    void parallelSequencesMatchOneAtATimeAndPlainLines() throws IOException {
        Path in = dir.resolve("prompts.txt");
        List<String> prompts = List.of("Once upon a time", "The quick brown fox", "In the beginning",
                "It was a dark and stormy night", "Call me Ishmael", "All happy families");
        Files.write(in, prompts);
        Path one = dir.resolve("one.jsonl");
        Path many = dir.resolve("many.jsonl");
        CliTest.Run r1 = CliTest.run("complete", "-m", model.toString(), "--lines", "--parallel", "1", "-n", "12",
                "--temp", "0", "-o", one.toString(), in.toString());
        assertEquals(0, r1.exit(), r1.err());
        CliTest.Run r4 = CliTest.run("complete", "-m", model.toString(), "--lines", "--parallel", "4", "-n", "12",
                "--temp", "0", "-o", many.toString(), in.toString(), "--progress", "lines");
        assertEquals(0, r4.exit(), r4.err());
        assertTrue(r4.err().contains("6/6 done"), r4.err());
        Map<String, JsonNode> a = byId(records(one));
        Map<String, JsonNode> b = byId(records(many));
        assertEquals(6, a.size());
        assertEquals(a.keySet(), b.keySet());
        for (String id : a.keySet()) {
            assertEquals(a.get(id).get("text").asText(), b.get(id).get("text").asText(), "sequence " + id
                    + " differs when decoded beside others");
        }
        assertTrue(a.containsKey(in + ":2"));
    }

    @Test
    void aStopStringEndsTheTextBeforeItAndABadOneIsAnErrorRecord() throws IOException {
        Path in = dir.resolve("plain.jsonl");
        Files.writeString(in, "{\"custom_id\":\"p\",\"prompt\":\"Once upon a time\",\"max_tokens\":24}\n");
        Path plainOut = dir.resolve("plain-out.jsonl");
        CliTest.Run r = CliTest.run("complete", "-m", model.toString(), "--temp", "0", "-o", plainOut.toString(),
                in.toString());
        assertEquals(0, r.exit(), r.err());
        String text = byId(records(plainOut)).get("p").get("text").asText();
        // a stop string found in the greedy text after its start: the answer is the text before its first occurrence
        String stop = null;
        for (int i = 2; i + 2 <= text.length() && stop == null; i++) {
            if (!text.substring(i, i + 2).isBlank()) {
                stop = text.substring(i, i + 2);
            }
        }
        assertNotNull(stop, "no stop candidate in " + text);
        Path stopIn = dir.resolve("stop.jsonl");
        Files.write(stopIn, List.of(
                "{\"custom_id\":\"s\",\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"stop\":"
                        + JSON.writeValueAsString(stop) + "}",
                "{\"custom_id\":\"list\",\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"stop\":[\"zzzz\","
                        + JSON.writeValueAsString(stop) + "]}",
                "{\"custom_id\":\"bad\",\"prompt\":\"x\",\"stop\":[\"\"]}",
                "{\"custom_id\":\"num\",\"prompt\":\"x\",\"stop\":3}"));
        Path out = dir.resolve("stop-out.jsonl");
        CliTest.Run s = CliTest.run("complete", "-m", model.toString(), "--temp", "0", "--parallel", "2", "-o",
                out.toString(), stopIn.toString());
        assertEquals(1, s.exit(), "the bad lines make the run fail: " + s.err());
        Map<String, JsonNode> res = byId(records(out));
        for (String id : List.of("s", "list")) {
            assertEquals(text.substring(0, text.indexOf(stop)), res.get(id).get("text").asText(), id);
            assertEquals("stop", res.get(id).get("finish_reason").asText(), id);
        }
        assertTrue(res.get("bad").get("error").get("message").asText().contains("stop string is empty"),
                res.get("bad").toString());
        assertTrue(res.get("num").get("error").get("message").asText().contains("\"stop\" must be a string"),
                res.get("num").toString());
    }

    @Test
    void vocabularyRoutesAndPerRequestAdaptersShareABatch() throws IOException {
        Path routes = Files.writeString(dir.resolve("vocab.json"),
                "{\"default\": \"code\", \"rules\": [{\"adapter\": \"math\", \"piece\": \"e\"}]}");
        Path in = dir.resolve("routed.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            lines.add("{\"custom_id\":\"r" + i + "\",\"prompt\":\"Count 1 2 3 and " + i + "\",\"max_tokens\":24}");
        }
        lines.add("{\"custom_id\":\"base\",\"prompt\":\"Count 1 2 3\",\"max_tokens\":24,\"adapter\":\"none\"}");
        Files.write(in, lines);
        Path out = dir.resolve("routed-out.jsonl");
        CliTest.Run r = CliTest.run("complete", "-m", model.toString(), "--lora", "code=" + code, "--lora", "math=" + math,
                "--routes", routes.toString(), "--show-routes", "--parallel", "4", "--temp", "0", "-o", out.toString(),
                in.toString());
        assertEquals(0, r.exit(), r.err());
        Map<String, JsonNode> res = byId(records(out));
        int math = 0;
        int all = 0;
        for (int i = 0; i < 6; i++) {
            JsonNode rec = res.get("r" + i);
            assertEquals(rec.get("usage").get("completion_tokens").asInt(), rec.get("routes").size());
            for (JsonNode t : rec.get("routes")) {
                String expected = t.get("token").asText().matches("(?s).*e.*") ? "math" : "code";
                math += expected.equals("math") ? 1 : 0;
                all++;
                assertEquals(expected, t.get("adapters").get(0).asText(), rec.toString());
            }
        }
        JsonNode base = res.get("base");
        assertEquals(base.get("usage").get("completion_tokens").asInt(), base.get("adapter_tokens").get("none").asInt());
        for (JsonNode t : base.get("routes")) {
            assertEquals(0, t.get("adapters").size(), base.toString());
        }
        assertTrue(math > 0 && math < all, "both routes taken: " + math + " of " + all);
    }

    @Test
    void aPromptLongerThanItsSlotFailsAloneAndNoResumeStartsOver() throws IOException {
        Path in = dir.resolve("long.jsonl");
        Files.write(in, List.of(
                "{\"custom_id\":\"short\",\"prompt\":\"Hello\",\"max_tokens\":4}",
                "{\"custom_id\":\"long\",\"prompt\":\"" + "word ".repeat(600) + "\",\"max_tokens\":4}",
                "{\"custom_id\":\"short2\",\"prompt\":\"Bye\",\"max_tokens\":4}"));
        Path out = dir.resolve("long-out.jsonl");
        String[] args = {"complete", "-m", model.toString(), "-c", "256", "--parallel", "4", "--temp", "0", "-o",
                out.toString(), in.toString()};
        CliTest.Run r = CliTest.run(args);
        assertEquals(1, r.exit(), r.err());
        Map<String, JsonNode> res = byId(records(out));
        assertTrue(res.get("long").get("error").get("message").asText().contains("does not fit in a slot of"),
                res.get("long").toString());
        assertEquals("length", res.get("short").get("finish_reason").asText());
        assertEquals("length", res.get("short2").get("finish_reason").asText());

        String[] again = java.util.Arrays.copyOf(args, args.length + 1);
        again[args.length] = "--no-resume";
        assertEquals(1, CliTest.run(again).exit());
        assertEquals(3, records(out).size(), "--no-resume rewrites the output");
    }

    @Test
    void killedRunLosesAtMostItsInFlightItemsAndResumes() throws Exception {
        Path in = dir.resolve("many.jsonl");
        List<String> lines = new ArrayList<>();
        int total = 60;
        for (int i = 0; i < total; i++) {
            lines.add("{\"custom_id\":\"item-" + i + "\",\"prompt\":\"Prompt number " + i + " says\",\"max_tokens\":48}");
        }
        Files.write(in, lines);
        Path out = dir.resolve("killed.jsonl");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                "-Dmolora.native.dir=" + System.getProperty("molora.native.dir"),
                "-Dmolora.llama.src=" + System.getProperty("molora.llama.src"),
                "-cp", System.getProperty("java.class.path"), "io.molora.cli.Main",
                "complete", "-m", model.toString(), "--parallel", "4", "--temp", "0", "-t", "1", "-o", out.toString(),
                in.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("child.log").toFile())
                .start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline && p.isAlive()
                && (!Files.exists(out) || Files.readAllLines(out).size() < 6)) {
            Thread.sleep(20);
        }
        assertTrue(p.isAlive(), "the child finished before it could be killed: " + Files.readString(dir.resolve("child.log")));
        p.destroyForcibly();  // SIGKILL
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(137, p.exitValue(), "killed by signal 9");

        List<JsonNode> partial = records(out);  // every line whole
        int written = partial.size();
        assertTrue(written >= 6 && written < total, written + " of " + total);
        byId(partial);
        // as a power cut could leave it: a torn last line
        Files.writeString(out, "{\"custom_id\":\"item-9999\",\"te", StandardOpenOption.APPEND);

        CliTest.Run r = CliTest.run(cmd.subList(cmd.indexOf("complete"), cmd.size()).toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("resuming: " + written + " of " + total) && r.err().contains("cut a torn last line"), r.err());
        Map<String, JsonNode> all = byId(records(out));
        Set<String> expected = new HashSet<>();
        for (int i = 0; i < total; i++) {
            expected.add("item-" + i);
        }
        assertEquals(expected, all.keySet());
        for (JsonNode rec : all.values()) {
            assertFalse(rec.has("error"), rec.toString());
            assertNotNull(rec.get("text"));
        }
    }
}
