package io.molora.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.gguf.GgufWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link OutputFile}'s rule, case by case, without a model: what is refused, what is replaced, how it is written. */
class OutputFileTest {
    @TempDir
    Path dir;

    private Path gguf(String name, String type) throws IOException {
        GgufWriter w = new GgufWriter();
        w.put("general.type", type);
        Path p = dir.resolve(name);
        w.write(p);
        return p;
    }

    private Set<String> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }

    private OutputFile.Refused refused(Path given, OutputFile.Kind kind, List<Path> inputs, boolean force,
            OutputFile.Cause cause) {
        OutputFile.Refused e = assertThrows(OutputFile.Refused.class, () -> OutputFile.check(given, kind, inputs, force));
        assertEquals(cause, e.cause(), e.getMessage());
        assertEquals(given, e.given());
        assertTrue(e.getMessage().startsWith("output " + given), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        return e;
    }

    @Test
    void anExistingRouterIsReplacedAndAnotherFileOnlyWithForce() throws IOException {
        Path router = gguf("r.gguf", "router");
        OutputFile.Target t = OutputFile.check(router, OutputFile.ROUTER, List.of(), false);
        assertFalse(t.stream());
        t.write(p -> Files.writeString(p, "new"));
        assertEquals("new", Files.readString(router));

        byte[] notes = "my notes\n".getBytes(StandardCharsets.UTF_8);
        Path text = Files.write(dir.resolve("notes.txt"), notes);
        OutputFile.Refused e = refused(text, OutputFile.ROUTER, List.of(), false, OutputFile.Cause.OTHER_KIND);
        assertTrue(e.getMessage().contains("is not a molora router file (not GGUF"), e.getMessage());
        assertTrue(e.getMessage().contains("--force"), e.getMessage());
        assertArrayEquals(notes, Files.readAllBytes(text));

        Path model = gguf("model.gguf", "model");
        e = refused(model, OutputFile.ROUTER, List.of(), false, OutputFile.Cause.OTHER_KIND);
        assertTrue(e.getMessage().contains("general.type is 'model'"), e.getMessage());

        OutputFile.check(text, OutputFile.ROUTER, List.of(), true).write(p -> Files.writeString(p, "forced"));
        assertEquals("forced", Files.readString(text));
    }

    @Test
    void anInputIsRefusedEvenWithForceWhateverTheSpellingOrLink() throws IOException {
        Path model = gguf("model.gguf", "router");  // even of the right kind: it is being read
        Path link = Files.createSymbolicLink(dir.resolve("link.gguf"), model.getFileName());
        Path hard = Files.createLink(dir.resolve("hard.gguf"), model);
        Path spelled = dir.resolve("sub/../model.gguf");
        Files.createDirectories(dir.resolve("sub"));
        for (Path given : List.of(model, link, hard, spelled)) {
            OutputFile.Refused e = refused(given, OutputFile.ROUTER, List.of(model), true, OutputFile.Cause.INPUT);
            assertTrue(e.getMessage().contains("one of this command's inputs"), e.getMessage());
        }
        // a file under an input directory, there or not yet: the next run would read it
        Path corpus = Files.createDirectories(dir.resolve("corpus/deep"));
        Path text = Files.writeString(corpus.resolve("a.txt"), "text");
        refused(text, OutputFile.ROUTER, List.of(dir.resolve("corpus")), true, OutputFile.Cause.INSIDE_INPUT);
        refused(corpus.resolve("new.gguf"), OutputFile.ROUTER, List.of(dir.resolve("corpus")), true,
                OutputFile.Cause.INSIDE_INPUT);
        assertEquals("text", Files.readString(text));
        // a missing input (its own error comes later) and an unrelated one do not matter
        OutputFile.check(dir.resolve("out.gguf"), OutputFile.ROUTER, List.of(dir.resolve("nothing"), model), false);
    }

    @Test
    void aDirectoryADeviceAndAMissingFolderAreRefusedEvenWithForce() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        OutputFile.Refused e = refused(empty, OutputFile.ROUTER, List.of(), true, OutputFile.Cause.DIRECTORY);
        assertEquals("it is a directory", e.reason());
        assertTrue(Files.isDirectory(empty));

        Path devNull = Path.of("/dev/null");
        if (Files.exists(devNull)) {
            e = refused(devNull, OutputFile.ROUTER, List.of(), true, OutputFile.Cause.DEVICE);
            assertTrue(e.getMessage().contains("a device or pipe"), e.getMessage());
            // a kind that streams writes to it as it is
            OutputFile.Kind stream = new OutputFile.Kind() {
                @Override
                public String description() {
                    return "records";
                }

                @Override
                public java.util.Optional<String> whyNot(Path file) {
                    return java.util.Optional.of("is not records");
                }

                @Override
                public boolean streams() {
                    return true;
                }
            };
            assertTrue(OutputFile.check(devNull, stream, List.of(), false).stream());
        }

        Path missing = dir.resolve("no/such/dir/r.gguf");
        e = refused(missing, OutputFile.ROUTER, List.of(), true, OutputFile.Cause.NO_FOLDER);
        assertEquals("no folder " + dir.resolve("no/such/dir"), e.reason());
        assertFalse(Files.exists(dir.resolve("no")), "nothing made");

        // a cache makes its folder, at the check
        OutputFile.Target t = OutputFile.check(dir.resolve("cache/models/m.gguf"), OutputFile.CACHE, List.of(), false);
        assertTrue(Files.isDirectory(dir.resolve("cache/models")));
        assertEquals(dir.resolve("cache/models/m.gguf"), t.file());
    }

    @Test
    void aWriteIsWholeOrNothingBesideTheTargetAndThroughALink() throws IOException {
        Path real = gguf("real.gguf", "router");
        byte[] before = Files.readAllBytes(real);
        Path link = Files.createSymbolicLink(dir.resolve("link.gguf"), real.getFileName());
        OutputFile.Target t = OutputFile.check(link, OutputFile.ROUTER, List.of(), false);
        assertEquals(real.toRealPath(), t.file());

        // a writer that fails half way: the target as it was, no temporary file left
        OutputFile.WriteFailed f = assertThrows(OutputFile.WriteFailed.class, () -> t.write(p -> {
            assertEquals(real.toRealPath().getParent(), p.getParent(), "the temporary file is beside the target");
            Files.writeString(p, "half");
            throw new IOException("No space left on device");
        }));
        assertEquals("cannot write output " + link + ": No space left on device", f.getMessage());
        assertEquals("No space left on device", f.reason());
        assertArrayEquals(before, Files.readAllBytes(real));
        assertEquals(Set.of("real.gguf", "link.gguf"), files());

        t.write(p -> Files.writeString(p, "after"));
        assertTrue(Files.isSymbolicLink(link), "the link stays a link");
        assertEquals("after", Files.readString(real));
        assertEquals(Set.of("real.gguf", "link.gguf"), files());
    }

    @Test
    void aGgufWriterWritesThroughTheRule() throws IOException {
        // what train-router does: the gguf module's writer (its own .part file) into the temporary file
        Path out = dir.resolve("r.gguf");
        OutputFile.check(out, OutputFile.ROUTER, List.of(), false).write(p -> {
            GgufWriter w = new GgufWriter();
            w.put("general.type", "router");
            w.write(p);
        });
        assertEquals(Set.of("r.gguf"), files());
        assertEquals(java.util.Optional.empty(), OutputFile.ROUTER.whyNot(out));
    }
}
