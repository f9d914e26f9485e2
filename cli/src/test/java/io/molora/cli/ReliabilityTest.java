package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The rows of docs/RELIABILITY.md's table for generate, complete and chat (issue 13, parts 3 to 5): each runs the real
 * CLI in a child JVM ({@link ChildCli}) and asserts the exit code, the one line the user sees, no hs_err file and no
 * stack trace, and the files left behind (byte for byte where nothing may change).
 */
class ReliabilityTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    private static Path model;

    @BeforeAll
    static void files() throws IOException {
        model = NativeTestSupport.writeTinyModel(dir, 5);
    }

    private static List<JsonNode> records(Path out) throws IOException {
        List<JsonNode> list = new ArrayList<>();
        for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
            list.add(JSON.readTree(line));  // throws on a torn line
        }
        return list;
    }

    /** Records by custom_id, asserting each id appears once. */
    private static Map<String, JsonNode> byId(List<JsonNode> records) {
        Map<String, JsonNode> m = new HashMap<>();
        for (JsonNode r : records) {
            assertTrue(m.put(r.get("custom_id").asText(), r) == null, "two records for " + r.get("custom_id"));
        }
        return m;
    }

    private static Path requests(Path file, int n, int maxTokens) throws IOException {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            lines.add("{\"custom_id\":\"item-" + i + "\",\"prompt\":\"Prompt number " + i + " says\",\"max_tokens\":"
                    + maxTokens + "}");
        }
        Files.createDirectories(file.getParent());
        return Files.write(file, lines);
    }

    private static String[] complete(Path input, Path output, String... more) {
        List<String> args = new ArrayList<>(List.of("complete", "-m", model.toString(), "--temp", "0", "-t", "1",
                "--progress", "none", "-o", output.toString(), input.toString()));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    // --- options ----------------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0} {1}")
    @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', value = {
        "-t     | 16384 | Invalid value for option '--threads': this machine runs ",
        "-t     | -3    | Invalid value for option '--threads': this machine runs ",
        "-c     | -5    | Invalid value for option '--ctx-size': must be 0 or more, got -5",
        "-b     | 0     | Invalid value for option '--batch-size': must be 1 or more, got 0",
        "--top-p | 2    | Invalid value for option '--top-p': must be between 0 and 1, got 2",
        "--min-p | 5    | Invalid value for option '--min-p': must be between 0 and 1, got 5",
        "--top-k | -5   | Invalid value for option '--top-k': must be 0 or more, got -5",
        "-ngl   | -7    | Invalid value for option '--n-gpu-layers': must be -1 (all layers) or 0 or more, got -7",
        "--temp | NaN   | Invalid value for option '--temp': 'NaN' is not a finite number",
        "--temp | -1    | Invalid value for option '--temp': must be 0 (greedy) or more, got -1"})
    void aBadOptionValueExitsTwoNamingTheOption(String option, String value, String message) throws Exception {
        ChildCli.Result r = ChildCli.run(dir.resolve("option" + option + value), "generate", "-m", model.toString(),
                "-p", "hi", option, value);
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().lines().findFirst().orElse("").startsWith(message), r.err());
        assertTrue(r.err().lines().findFirst().orElse("").endsWith("got " + value) || value.equals("NaN"), r.err());
        assertEquals("", r.out());
        r.clean();
    }

    @Test
    void aBadValueInTheConfigFileExitsTwoNamingTheFileAndTheKey() throws Exception {
        Path cwd = dir.resolve("config");
        Files.createDirectories(cwd);
        Path config = Files.writeString(cwd.resolve("bad.properties"), "complete.top-p=1.5\n");
        Path input = Files.writeString(cwd.resolve("in.jsonl"), "{\"custom_id\": \"a\", \"prompt\": \"hi\"}\n");
        ChildCli.Result r = ChildCli.runWithEnv(cwd, Map.of("MOLORA_CONFIG", config.toString()), "complete",
                "-m", model.toString(), "-o", cwd.resolve("out.jsonl").toString(), input.toString());
        assertEquals(2, r.exit(), r.err());
        String first = r.err().lines().findFirst().orElse("");
        assertTrue(first.contains("config file " + config) && first.contains("complete.top-p=1.5")
                && first.contains("between 0 and 1"), r.err());
        assertTrue(Files.notExists(cwd.resolve("out.jsonl")), "nothing written");
        r.clean();
    }

    // --- generate ---------------------------------------------------------------------------------------------------

    @Test
    void aPromptTooLongForTheContextIsRefusedBeforeItIsEchoed() throws Exception {
        ChildCli.Result r = ChildCli.run(dir.resolve("too-long"), "generate", "-m", model.toString(),
                "-p", "word ".repeat(600), "-c", "256", "-n", "4", "-t", "1");
        r.refusedInOneLine("prompt of 602 tokens does not fit in the context (256 tokens)");
        assertEquals("", r.out(), "nothing echoed");
    }

    @Test
    void generationStopsWhenTheReaderOfStdoutHasGone() throws Exception {
        // as `molora generate ... | head -c 20`: without the check it runs to the end of a 16 384-token context
        Path cwd = dir.resolve("head");
        Process p = ChildCli.startPiped(cwd, "generate", "-m", model.toString(), "-p", "Once upon a time in a land",
                "-n", "-1", "-c", "16384", "--temp", "0", "-t", "1");
        p.getOutputStream().close();
        byte[] first;
        try (InputStream out = p.getInputStream()) {
            first = out.readNBytes(20);
        }
        ChildCli.Result r = ChildCli.finish(p, cwd);
        assertEquals("Once upon a time in ", new String(first, StandardCharsets.UTF_8));
        assertEquals(141, r.exit(), "stops, with what a shell reports for SIGPIPE (GenerateCommand.STDOUT_CLOSED): " + r.err());
        assertEquals("", r.err(), "quietly");
        r.clean();
    }

    // --- complete: outputs that are not molora's ------------------------------------------------------------------

    static Stream<Arguments> notResultFiles() throws IOException {
        byte[] noNewlines = new byte[1 << 20];
        new Random(13).nextBytes(noNewlines);
        for (int i = 0; i < noNewlines.length; i++) {
            noNewlines[i] = noNewlines[i] == '\n' ? (byte) 'x' : noNewlines[i];
        }
        return Stream.of(
                Arguments.of("notes.txt", "some notes\nmore notes\n".getBytes(StandardCharsets.UTF_8)),
                Arguments.of("blob.bin", noNewlines),
                Arguments.of("model-copy.gguf", Files.readAllBytes(NativeTestSupport.writeTinyModel(dir, 5))),
                // the classic slip: -o naming the input
                Arguments.of("requests.jsonl", "{\"custom_id\":\"a\",\"prompt\":\"Hi\"}\n{\"custom_id\":\"b\",\"prompt\":\"Yo\"}\n"
                        .getBytes(StandardCharsets.UTF_8)),
                // an OpenAI batch output
                Arguments.of("openai.jsonl", "{\"id\":\"batch_req_1\",\"custom_id\":\"a\",\"response\":{}}\n"
                        .getBytes(StandardCharsets.UTF_8)),
                // molora's records, then a line of something else
                Arguments.of("mixed.jsonl", ("{\"custom_id\":\"a\",\"text\":\"x\",\"finish_reason\":\"stop\"}\n"
                        + "{\"custom_id\":\"b\",\"note\":\"hand-written\"}\n").getBytes(StandardCharsets.UTF_8)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("notResultFiles")
    void anOutputThatIsNotMoloraSIsRefusedAndLeftAsItWas(String name, byte[] content) throws Exception {
        Path cwd = dir.resolve("not-ours-" + name);
        Path input = requests(cwd.resolve("in.jsonl"), 3, 4);
        Path output = Files.write(cwd.resolve(name), content);
        for (String mode : List.of("--resume", "--no-resume")) {
            ChildCli.Result r = ChildCli.run(cwd, complete(input, output, mode));
            r.refusedInOneLine("output " + output + " is not molora's result file (line ");
            assertTrue(r.errors().get(0).contains("nothing was changed"), r.errors().get(0));
            assertArrayEquals(content, Files.readAllBytes(output), mode + " left " + name + " as it was");
        }
        try (Stream<Path> files = Files.list(cwd)) {
            assertEquals(Set.of("in.jsonl", name, "out.txt", "err.txt"),
                    new HashSet<>(files.map(f -> f.getFileName().toString()).toList()), "no other file left behind");
        }
    }

    @Test
    void aDirectoryAsOutputIsRefused() throws Exception {
        Path cwd = dir.resolve("dir-out");
        Path input = requests(cwd.resolve("in.jsonl"), 2, 4);
        ChildCli.Result r = ChildCli.run(cwd, complete(input, Files.createDirectories(cwd.resolve("results"))));
        r.refusedInOneLine("output " + cwd.resolve("results") + " is a directory; -o names a file");
    }

    @Test
    void aFullDiskGivesOneLine() throws Exception {
        Path full = Path.of("/dev/full");
        if (!Files.exists(full)) {
            return;  // Linux has it; the row is about what a write error looks like
        }
        Path cwd = dir.resolve("dev-full");
        ChildCli.Result r = ChildCli.run(cwd, complete(requests(cwd.resolve("in.jsonl"), 3, 4), full));
        r.refusedInOneLine("cannot write output /dev/full: No space left on device");
    }

    // --- complete: one run per output -------------------------------------------------------------------------------

    @Test
    void aSecondRunOnTheSameOutputRefusesAtOnceNamingTheFirst() throws Exception {
        Path cwd = dir.resolve("lock");
        Path input = requests(cwd.resolve("in.jsonl"), 150, 64);
        Path output = cwd.resolve("out.jsonl");
        Process first = ChildCli.start(cwd.resolve("first"), complete(input, output));
        waitFor(first, output, lines -> lines >= 1);

        ChildCli.Result second = ChildCli.run(cwd.resolve("second"), complete(input, output));
        second.refusedInOneLine("output " + output + " is being written by another molora run (process "
                + first.pid() + ")");
        assertTrue(first.isAlive(), "the first run goes on");

        first.destroyForcibly();  // kill -9: its lock goes with it
        assertTrue(first.waitFor(30, TimeUnit.SECONDS));
        ChildCli.Result resumed = ChildCli.run(cwd.resolve("third"), complete(input, output));
        assertEquals(0, resumed.exit(), resumed.err());
        resumed.clean();
        assertEquals(150, byId(records(output)).size(), "every request once");
    }

    /** Waits until the child has written an output whose line count passes {@code enough}. */
    private static void waitFor(Process p, Path output, Predicate<Integer> enough) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (System.nanoTime() < deadline && p.isAlive()
                && !(Files.exists(output) && enough.test(lineCount(output)))) {
            Thread.sleep(10);
        }
        assertTrue(p.isAlive(), "the run ended before the moment the test waits for");
    }

    private static int lineCount(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        int n = 0;
        for (byte x : b) {
            n += x == '\n' ? 1 : 0;
        }
        return n;
    }

    // --- complete: kill -9 at several moments, then resume ----------------------------------------------------------

    @ParameterizedTest(name = "killed after {0} record(s)")
    @ValueSource(ints = {0, 1, 40})
    void aRunKilledAtAnyMomentResumesWithEveryRequestOnce(int after) throws Exception {
        Path cwd = dir.resolve("kill-" + after);
        int total = 80;
        Path input = requests(cwd.resolve("in.jsonl"), total, 48);
        Path output = cwd.resolve("out.jsonl");
        Process p = ChildCli.start(cwd.resolve("killed"), complete(input, output));
        waitFor(p, output, lines -> lines >= after);
        p.destroyForcibly();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(137, p.exitValue(), "killed by signal 9");
        assertEquals(List.of(), ChildCli.hsErr(cwd.resolve("killed")));
        int written = records(output).size();  // every line whole: one write per record
        assertTrue(written >= after && written < total, written + " of " + total);

        ChildCli.Result r = ChildCli.run(cwd.resolve("resumed"), complete(input, output));
        assertEquals(0, r.exit(), r.err());
        r.clean();
        if (written > 0) {
            assertTrue(r.err().contains("molora: resuming: " + written + " of " + total + " request(s) already in "),
                    r.err());
        }
        Map<String, JsonNode> all = byId(records(output));
        assertEquals(IntStream.range(0, total).mapToObj(i -> "item-" + i).collect(java.util.stream.Collectors.toSet()),
                all.keySet());
        all.values().forEach(rec -> assertFalse(rec.has("error"), rec.toString()));
    }

    // --- complete: torn lines -----------------------------------------------------------------------------------------

    @Test
    void aTornLastLineIsCutAndATornLineInTheMiddleIsKeptAsItIs() throws Exception {
        Path cwd = dir.resolve("torn");
        Path input = requests(cwd.resolve("in.jsonl"), 5, 4);
        Path output = cwd.resolve("out.jsonl");
        ChildCli.Result first = ChildCli.run(cwd.resolve("first"), complete(input, output));
        assertEquals(0, first.exit(), first.err());
        List<String> lines = Files.readAllLines(output);
        // record 3 torn in the middle (a write cut short, then records appended after it), record 5 torn at the end
        String torn3 = lines.get(2).substring(0, 40);
        String before = String.join("\n", lines.get(0), lines.get(1), torn3, lines.get(3)) + "\n";
        Files.writeString(output, before + lines.get(4).substring(0, 25));

        ChildCli.Result r = ChildCli.run(cwd.resolve("resumed"), complete(input, output));
        assertEquals(0, r.exit(), r.err());
        r.clean();
        assertTrue(r.err().contains("molora: cut a torn last line of " + output + " (25 bytes of an unfinished record;"
                + " its request runs again)"), r.err());
        assertTrue(r.err().contains("molora: line 3 of " + output + " is a torn record, kept as it is"), r.err());
        assertTrue(r.err().contains("resuming: 3 of 5"), r.err());
        String after = Files.readString(output);
        assertTrue(after.startsWith(before), "what was there stays, byte for byte");
        List<JsonNode> added = new ArrayList<>();
        for (String line : after.substring(before.length()).lines().toList()) {
            added.add(JSON.readTree(line));
        }
        assertEquals(Set.of(id(lines.get(2)), id(lines.get(4))), byId(added).keySet(), "the two torn requests ran again");

        // and the file as it now is resumes to nothing new, changing nothing
        ChildCli.Result again = ChildCli.run(cwd.resolve("again"), complete(input, output));
        assertEquals(0, again.exit(), again.err());
        assertTrue(again.err().contains("line 3 of " + output + " is a torn record"), again.err());
        assertEquals(after, Files.readString(output));
    }

    private static String id(String line) throws IOException {
        return JSON.readTree(line).get("custom_id").asText();
    }

    // --- complete: ids and input lines ------------------------------------------------------------------------------

    @Test
    void idsMadeFromAFileNameAreTheSameHoweverThePathIsWritten() throws Exception {
        Path cwd = dir.resolve("ids");
        Path input = cwd.resolve("in.jsonl");
        Files.createDirectories(cwd);
        Files.write(input, List.of("{\"prompt\":\"One\",\"max_tokens\":3}", "{\"prompt\":\"Two\",\"max_tokens\":3}",
                "{\"prompt\":\"Three\",\"max_tokens\":3}"));
        Path output = cwd.resolve("out.jsonl");
        ChildCli.Result r = ChildCli.run(cwd, "complete", "-m", model.toString(), "-t", "1", "--progress", "none",
                "-o", "out.jsonl", "./in.jsonl");
        assertEquals(0, r.exit(), r.err());
        String real = input.toRealPath().toString();
        assertEquals(Set.of(real + ":1", real + ":2", real + ":3"), byId(records(output)).keySet());
        byte[] done = Files.readAllBytes(output);

        Path link = Files.createSymbolicLink(cwd.resolve("link.jsonl"), input);
        for (String spelling : List.of("in.jsonl", input.toString(), "../ids/./in.jsonl", "link.jsonl")) {
            ChildCli.Result again = ChildCli.run(cwd, "complete", "-m", model.toString(), "-t", "1", "--progress",
                    "none", "-o", "out.jsonl", spelling);
            assertEquals(0, again.exit(), again.err());
            assertTrue(again.err().contains("resuming: 3 of 3"), spelling + ": " + again.err());
            assertArrayEquals(done, Files.readAllBytes(output), spelling + " ran nothing again");
        }
        assertTrue(Files.isSymbolicLink(link));

        // an output of an earlier version, whose ids were the path as typed, resumes the same way
        String legacy = new String(done, StandardCharsets.UTF_8).replace(real, "./in.jsonl");
        Files.writeString(output, legacy);
        ChildCli.Result old = ChildCli.run(cwd, "complete", "-m", model.toString(), "-t", "1", "--progress", "none",
                "-o", "out.jsonl", "in.jsonl");
        assertEquals(0, old.exit(), old.err());
        assertTrue(old.err().contains("resuming: 3 of 3"), old.err());
        assertEquals(legacy, Files.readString(output));
    }

    @Test
    void aBadLineIsAnErrorRecordOfItsOwnAndTheOthersRun() throws Exception {
        Path cwd = dir.resolve("bad-lines");
        Files.createDirectories(cwd);
        Path input = cwd.resolve("in.jsonl");
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes("{\"custom_id\":\"ok\",\"prompt\":\"Hello\",\"max_tokens\":3}\n".getBytes(StandardCharsets.UTF_8));
        String cafe = "{\"custom_id\":\"latin1\",\"prompt\":\"caf";
        b.writeBytes(cafe.getBytes(StandardCharsets.UTF_8));
        b.write(0xE9);  // 'é' in Latin-1: not UTF-8
        b.writeBytes("\",\"max_tokens\":3}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"custom_id\":\"c\", this is not json\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"custom_id\":\"neg\",\"prompt\":\"x\",\"max_tokens\":-1}\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"custom_id\":\"neg2\",\"prompt\":\"x\",\"n_predict\":-2}\r\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("{\"custom_id\":\"ok2\",\"prompt\":\"Bye\",\"max_tokens\":3}\n".getBytes(StandardCharsets.UTF_8));
        Files.write(input, b.toByteArray());
        Path output = cwd.resolve("out.jsonl");
        ChildCli.Result r = ChildCli.run(cwd, complete(input, output));
        assertEquals(1, r.exit(), "a failed request fails the run at its end: " + r.err());
        r.clean();
        assertTrue(r.err().contains("2 completed, 4 failed"), r.err());
        Map<String, JsonNode> res = byId(records(output));
        String f = input.toRealPath().toString();
        assertEquals(Set.of("ok", "ok2", f + ":2", f + ":3", "neg", "neg2"), res.keySet());
        assertEquals(f + ":2: not valid UTF-8 (byte " + (cafe.length() + 1) + " is 0xE9)", res.get(f + ":2").get("error").get("message").asText());
        assertTrue(res.get(f + ":3").get("error").get("message").asText().startsWith(f + ":3: not valid JSON"));
        assertEquals(f + ":4: \"max_tokens\" must be >= 0, got -1", res.get("neg").get("error").get("message").asText());
        assertEquals(f + ":5: \"n_predict\" must be -1 or >= 0, got -2",
                res.get("neg2").get("error").get("message").asText());
        assertEquals("length", res.get("ok2").get("finish_reason").asText());
    }

    // --- chat -------------------------------------------------------------------------------------------------------

    @Test
    void aChatThatCannotSaveSaysSoAndGoesOn() throws Exception {
        Path cwd = dir.resolve("chat");
        Files.createDirectories(cwd);
        String input = String.join("\n", "Hello", "/save " + cwd.resolve("no/such/folder/chat.json"),
                "/save " + cwd, Files.exists(Path.of("/dev/full")) ? "/save /dev/full" : "/save " + cwd,
                "/save notes.txt", "More", "/save chat.json", "/save link.json", "/save! notes.txt", "/exit") + "\n";
        // an earlier save (replaced through the link), and a file that is not one (refused, then /save! replaces it)
        Path real = Files.writeString(cwd.resolve("real.json"), "{\"messages\": []}\n");
        Path notes = Files.writeString(cwd.resolve("notes.txt"), "my notes\n");
        Path link = Files.createSymbolicLink(cwd.resolve("link.json"), real.getFileName());
        ChildCli.Result r = ChildCli.runWithInput(cwd, input, "chat", "-m", model.toString(), "-t", "1", "-n", "4", "--temp",
                "0", "--history", "", "--chat-template", "chatml");
        assertEquals(0, r.exit(), r.err());
        r.clean();
        String kept = " (the conversation is kept; /save to another file)";
        assertTrue(r.out().contains("cannot save to " + cwd.resolve("no/such/folder/chat.json") + ": no folder "
                + cwd.resolve("no/such/folder") + kept), r.out());
        assertTrue(r.out().contains("cannot save to " + cwd + ": it is a directory" + kept), r.out());
        if (Files.exists(Path.of("/dev/full"))) {
            // a device is not a file to save to (issue 26: every file molora writes, under one rule)
            assertTrue(r.out().contains("cannot save to /dev/full: it is a device or pipe, not a file" + kept), r.out());
        }
        assertTrue(r.out().contains("cannot save to notes.txt: it is not a saved conversation (not JSON)" + kept),
                r.out());
        assertTrue(r.out().contains("saved 4 messages to notes.txt"), "/save! replaces it: " + r.out());
        assertEquals(Files.readString(cwd.resolve("chat.json")), Files.readString(notes));
        assertTrue(r.out().contains("saved 4 messages to chat.json"), "the chat went on: " + r.out());
        JsonNode saved = JSON.readTree(Files.readString(cwd.resolve("chat.json")));
        assertEquals(List.of("user", "assistant", "user", "assistant"),
                Arrays.stream(JSON.treeToValue(saved.get("messages"), JsonNode[].class)).map(m -> m.get("role").asText())
                        .toList());
        assertEquals("More", saved.get("messages").get(2).get("content").asText());
        assertTrue(Files.isSymbolicLink(link), "a save through a link replaces the file, not the link");
        assertEquals(Files.readString(cwd.resolve("chat.json")), Files.readString(real));
        try (Stream<Path> files = Files.list(cwd)) {
            assertEquals(Set.of("chat.json", "real.json", "link.json", "notes.txt", "out.txt", "err.txt"),
                    new HashSet<>(files.map(p -> p.getFileName().toString()).toList()), "no temporary file left");
        }
    }

    // --- model files: truncated at many offsets ---------------------------------------------------------------------

    @Test
    void aModelTruncatedAnywhereIsRefusedInOneLine() throws Exception {
        byte[] whole = Files.readAllBytes(model);
        for (int cut : List.of(0, 3, 4, 8, 24, 100, 4096, whole.length / 2, whole.length - 1)) {
            Path cwd = dir.resolve("cut-" + cut);
            Path file = Files.write(Files.createDirectories(cwd).resolve("cut.gguf"), Arrays.copyOf(whole, cut));
            ChildCli.Result r = ChildCli.run(cwd, "generate", "-m", file.toString(), "-p", "Hi", "-n", "2", "-t", "1");
            r.refusedInOneLine(file.toString());
            assertEquals("", r.out(), "at " + cut);
            assertArrayEquals(Arrays.copyOf(whole, cut), Files.readAllBytes(file));
        }
    }
}
