package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.gguf.GgufFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 26, "every file molora writes, under one rule" (docs/RELIABILITY.md, "Files molora writes"): the real CLI in a
 * child JVM ({@link ChildCli}) pointed with -o (and chat's /save) at what it must not replace, and at what it may.
 * Each refusal is exit 1 with one {@code molora: error:} line naming the path given, before any work, and leaves every
 * file as it was, byte for byte, and no file behind.
 */
class OutputFilesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static TinyFamily family;
    static Path corpus;

    @BeforeAll
    static void files() throws IOException {
        family = TinyFamily.write(dir);
        corpus = Files.writeString(dir.resolve("train.txt"), RouterCommandsTest.text(1, 300));
    }

    private static String[] trainRouter(Path output, String... more) {
        List<String> args = new ArrayList<>(List.of("train-router", "-m", family.model().toString(),
                "--lora", "math=" + family.math(), "--lora", "code=" + family.code(), "--corpus", corpus.toString(),
                "--seq-len", "64", "--hidden", "0", "--epochs", "2", "-t", "1", "-o", output.toString()));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    private static Set<String> names(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }

    private static String generalType(Path file) throws IOException {
        try (GgufFile f = GgufFile.open(file)) {
            return f.string("general.type").orElse("");
        }
    }

    /** Every file of the family and the corpus, byte for byte, to compare after a run. */
    private static List<byte[]> inputsNow() throws IOException {
        List<byte[]> all = new ArrayList<>();
        for (Path p : List.of(family.model(), family.math(), family.code(), corpus)) {
            all.add(Files.readAllBytes(p));
        }
        return all;
    }

    private static void assertInputsAsBefore(List<byte[]> before) throws IOException {
        List<byte[]> now = inputsNow();
        for (int i = 0; i < before.size(); i++) {
            assertArrayEquals(before.get(i), now.get(i), "input " + i + " changed");
        }
    }

    /** Refused before training: exit 1, one error line with {@code text}, no training line on stderr, nothing out. */
    private static void refusedBeforeTraining(ChildCli.Result r, String text) {
        r.refusedInOneLine(text);
        assertFalse(r.err().contains("epoch") || r.err().contains("scoring") || r.err().contains("training"),
                "no training started: " + r.err());
        assertEquals("", r.out());
    }

    // --- train-router ------------------------------------------------------------------------------------------------

    @Test
    void aTextFileIsRefusedAndLeftAsItWas() throws Exception {
        Path cwd = Files.createDirectories(dir.resolve("text"));
        byte[] notes = "my notes, not a router\n".getBytes(StandardCharsets.UTF_8);
        Path out = Files.write(cwd.resolve("notes.txt"), notes);
        ChildCli.Result r = ChildCli.run(cwd, trainRouter(out));
        refusedBeforeTraining(r, "output " + out + " is not a molora router file (not GGUF");
        assertTrue(r.errors().get(0).contains("--force"), r.errors().get(0));
        assertArrayEquals(notes, Files.readAllBytes(out));
        assertEquals(Set.of("notes.txt", "out.txt", "err.txt"), names(cwd));
    }

    @Test
    void theModelAnAdapterAndTheCorpusAreRefusedEvenWithForce() throws Exception {
        List<byte[]> before = inputsNow();
        Set<String> files = names(dir);
        int i = 0;
        for (Path input : List.of(family.model(), family.math(), corpus)) {
            for (String force : List.of("--seed=42", "--force")) {
                Path cwd = dir.resolve("input-" + i++);
                ChildCli.Result r = ChildCli.run(cwd, trainRouter(input, force));
                refusedBeforeTraining(r, "output " + input + " is one of this command's inputs; nothing was changed");
                assertInputsAsBefore(before);
            }
        }
        // the same file spelled another way, and through a link
        Path cwd = dir.resolve("input-spelled");
        Path link = Files.createSymbolicLink(Files.createDirectories(cwd).resolve("link.gguf"), family.model());
        for (Path spelling : List.of(link, cwd.resolve("..").resolve(family.model().getFileName()))) {
            ChildCli.Result r = ChildCli.run(cwd, trainRouter(spelling, "--force"));
            refusedBeforeTraining(r, "output " + spelling + " is " + family.model() + ", one of this command's inputs");
        }
        assertTrue(Files.isSymbolicLink(link));
        assertInputsAsBefore(before);
        files.add("input-spelled");
        for (int k = 0; k < i; k++) {
            files.add("input-" + k);
        }
        assertEquals(files, names(dir), "no file left beside the inputs");
    }

    @Test
    void aFileInsideALabelledCorpusDirectoryIsRefused() throws Exception {
        Path cwd = Files.createDirectories(dir.resolve("domain"));
        Path math = Files.createDirectories(cwd.resolve("math"));
        Files.writeString(math.resolve("a.txt"), RouterCommandsTest.text(3, 100));
        Path out = math.resolve("router.gguf");
        ChildCli.Result r = ChildCli.run(cwd, "train-router", "-m", family.model().toString(), "--lora",
                "math=" + family.math(), "--domain", "math=" + math, "--seq-len", "64", "--epochs", "1", "-t", "1",
                "-o", out.toString());
        refusedBeforeTraining(r, "output " + out + " is inside " + math + ", a directory this command reads");
        assertEquals(Set.of("a.txt"), names(math));
    }

    @Test
    void anEmptyDirectoryIsRefused() throws Exception {
        Path cwd = Files.createDirectories(dir.resolve("empty-dir"));
        Path out = Files.createDirectories(cwd.resolve("routers"));
        ChildCli.Result r = ChildCli.run(cwd, trainRouter(out, "--force"));
        refusedBeforeTraining(r, "output " + out + " is a directory; -o names a file");
        assertTrue(Files.isDirectory(out));
        assertEquals(Set.of(), names(out));
    }

    @Test
    void aCharacterDeviceIsRefused() throws Exception {
        Path devNull = Path.of("/dev/null");
        if (!Files.exists(devNull)) {
            return;  // Linux has it
        }
        Path cwd = dir.resolve("dev-null");
        ChildCli.Result r = ChildCli.run(cwd, trainRouter(devNull, "--force"));
        refusedBeforeTraining(r, "output /dev/null is a device or pipe, not a file; a molora router file is written to"
                + " a file");
        assertFalse(Files.isRegularFile(devNull), "/dev/null is still the device");
    }

    @Test
    void aMissingFolderIsRefusedBeforeTrainingNamingThePathGiven() throws Exception {
        Path cwd = Files.createDirectories(dir.resolve("missing"));
        ChildCli.Result r = ChildCli.run(cwd, trainRouter(Path.of("no/such/dir/r.gguf")));
        refusedBeforeTraining(r, "output no/such/dir/r.gguf: no folder " + cwd.resolve("no/such/dir"));
        assertFalse(r.err().contains(".part"), "names the path given, not a temporary file: " + r.err());
        assertEquals(Set.of("out.txt", "err.txt"), names(cwd), "nothing written");
    }

    @Test
    void anExistingRouterIsReplacedAndATextFileOnlyWithForce() throws Exception {
        Path cwd = Files.createDirectories(dir.resolve("replace"));
        Path router = cwd.resolve("r.gguf");
        ChildCli.Result first = ChildCli.run(cwd.resolve("first"), trainRouter(router, "--seed", "1"));
        assertEquals(0, first.exit(), first.err());
        first.clean();
        assertEquals("router", generalType(router));
        byte[] one = Files.readAllBytes(router);

        ChildCli.Result second = ChildCli.run(cwd.resolve("second"), trainRouter(router, "--seed", "2"));
        assertEquals(0, second.exit(), second.err());
        second.clean();
        assertEquals("wrote " + router, second.out().lines().findFirst().orElse("").replaceAll(" \\(.*", ""));
        assertEquals("router", generalType(router));
        assertFalse(Arrays.equals(one, Files.readAllBytes(router)), "replaced by the second run's router");

        Path notes = Files.writeString(cwd.resolve("notes.txt"), "not a router\n");
        ChildCli.Result forced = ChildCli.run(cwd.resolve("forced"), trainRouter(notes, "--force"));
        assertEquals(0, forced.exit(), forced.err());
        forced.clean();
        assertEquals("router", generalType(notes));
        assertEquals(Set.of("r.gguf", "notes.txt", "first", "second", "forced"), names(cwd), "no temporary file left");
    }

    // --- complete -o: where it differs from before -------------------------------------------------------------------

    private static String[] complete(Path input, Path output, String... more) {
        List<String> args = new ArrayList<>(List.of("complete", "-m", family.model().toString(), "--temp", "0", "-t",
                "1", "--progress", "none", "-o", output.toString(), input.toString()));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    private static Path requests(Path file) throws IOException {
        Files.createDirectories(file.getParent());
        return Files.writeString(file, "{\"custom_id\":\"a\",\"prompt\":\"Hi\",\"max_tokens\":3}\n"
                + "{\"custom_id\":\"b\",\"prompt\":\"Yo\",\"max_tokens\":3}\n");
    }

    @Test
    void completeRefusesItsOwnInputsEvenWithForce() throws Exception {
        Path cwd = dir.resolve("complete-inputs");
        Path input = requests(cwd.resolve("in.jsonl"));
        byte[] requests = Files.readAllBytes(input);
        List<byte[]> before = inputsNow();
        for (Path out : List.of(input, family.model())) {
            ChildCli.Result r = ChildCli.run(cwd.resolve("run"), complete(input, out, "--force"));
            r.refusedInOneLine("output " + out + " is one of this command's inputs; nothing was changed");
            assertArrayEquals(requests, Files.readAllBytes(input));
            assertInputsAsBefore(before);
        }
        // an output inside an input directory would be read as input by the next run
        Path out = cwd.resolve("results.jsonl");
        ChildCli.Result r = ChildCli.run(cwd.resolve("run"), complete(cwd, out));
        r.refusedInOneLine("output " + out + " is inside " + cwd + ", a directory this command reads");
        assertFalse(Files.exists(out));
    }

    @Test
    void completeWithForceStartsOverAFileThatIsNotMolorasAndResumesItsOwnAsBefore() throws Exception {
        Path cwd = dir.resolve("complete-force");
        Path input = requests(cwd.resolve("in/in.jsonl"));
        Path out = Files.writeString(cwd.resolve("notes.txt"), "some notes\n");
        ChildCli.Result refused = ChildCli.run(cwd.resolve("run"), complete(input, out));
        refused.refusedInOneLine("output " + out + " is not molora's result file (line 1");
        assertTrue(refused.errors().get(0).contains("--force"), refused.errors().get(0));
        assertEquals("some notes\n", Files.readString(out));

        ChildCli.Result forced = ChildCli.run(cwd.resolve("run"), complete(input, out, "--force"));
        assertEquals(0, forced.exit(), forced.err());
        forced.clean();
        List<String> lines = Files.readAllLines(out);
        assertEquals(2, lines.size(), lines.toString());
        Set<String> ids = new HashSet<>();
        for (String line : lines) {
            JsonNode rec = JSON.readTree(line);
            ids.add(rec.get("custom_id").asText());
            assertTrue(rec.has("text"), line);
        }
        assertEquals(Set.of("a", "b"), ids);

        // now molora's: --force changes nothing about resuming it
        ChildCli.Result again = ChildCli.run(cwd.resolve("run"), complete(input, out, "--force"));
        assertEquals(0, again.exit(), again.err());
        assertTrue(again.err().contains("resuming: 2 of 2"), again.err());
        assertEquals(lines, Files.readAllLines(out));
    }

    // --- chat /save: where it differs from before --------------------------------------------------------------------

    @Test
    void chatSaveRefusesTheModelAndTheHistoryFileAndGoesOn() throws Exception {
        Path cwd = Files.createDirectories(dir.resolve("chat"));
        byte[] model = Files.readAllBytes(family.model());
        Path history = Files.createFile(cwd.resolve("history.txt"));  // JLine's, empty
        String input = String.join("\n", "Hello", "/save " + family.model(), "/save " + history,
                "/save " + family.math(), "/save chat.json", "/exit") + "\n";
        ChildCli.Result r = ChildCli.runWithInput(cwd, input, "chat", "-m", family.model().toString(), "--lora",
                "math=" + family.math(), "-t", "1", "-n", "3", "--temp", "0", "--history", history.toString(),
                "--chat-template", "chatml");
        assertEquals(0, r.exit(), r.err());
        r.clean();
        String kept = ", one of the inputs (the conversation is kept; /save to another file)";
        for (Path p : List.of(family.model(), history, family.math())) {
            assertTrue(r.out().contains("cannot save to " + p + ": it is " + p + kept), r.out());
        }
        assertArrayEquals(model, Files.readAllBytes(family.model()));
        assertFalse(Files.readString(history).contains("\"messages\""), "the history is a history still");
        assertTrue(r.out().contains("saved 2 messages to chat.json"), "the chat went on: " + r.out());
        assertEquals("Hello", JSON.readTree(Files.readString(cwd.resolve("chat.json"))).get("messages").get(0)
                .get("content").asText());
    }
}
