package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.runtime.testing.NativeTestSupport;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The real CLI ({@link Main}) in a child JVM, as a user runs it: its own working folder (where an {@code hs_err} file
 * would land), stdin, stdout and stderr, its exit code. A crash there fails a test instead of killing the suite.
 */
final class ChildCli {
    private ChildCli() {}

    record Result(int exit, String out, String err, List<Path> hsErr) {
        /** The lines that start with {@code molora: error: }. */
        List<String> errors() {
            return err.lines().filter(l -> l.startsWith("molora: error: ")).toList();
        }

        /** Exit 1, exactly one error line, containing {@code text}; no hs_err file, no Java stack trace. */
        void refusedInOneLine(String text) {
            assertEquals(1, exit, err);
            assertEquals(1, errors().size(), err);
            assertTrue(errors().get(0).contains(text), errors().get(0));
            clean();
        }

        /** No hs_err file, no uncaught exception, stack trace or OutOfMemoryError on stderr. */
        void clean() {
            assertEquals(List.of(), hsErr);
            for (String bad : List.of("\tat ", "Exception in thread", "OutOfMemoryError")) {
                assertTrue(!err.contains(bad), "'" + bad + "' on stderr:\n" + err);
            }
        }
    }

    /** The command line of a child JVM running the CLI with {@code args}. */
    static List<String> command(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xss4m",
                "-Dmolora.native.dir=" + NativeTestSupport.nativeDir(),
                "-cp", classPath(), Main.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Starts the CLI in {@code cwd}, stdout and stderr to {@code out.txt} and {@code err.txt} there. */
    static Process start(Path cwd, String... args) throws IOException {
        return start(cwd, Map.of(), args);
    }

    /** {@link #start(Path, String...)} with {@code env} added to the child's environment. */
    static Process start(Path cwd, Map<String, String> env, String... args) throws IOException {
        Files.createDirectories(cwd);
        ProcessBuilder pb = new ProcessBuilder(command(args)).directory(cwd.toFile())
                .redirectOutput(cwd.resolve("out.txt").toFile()).redirectError(cwd.resolve("err.txt").toFile());
        pb.environment().put("GGML_NO_BACKTRACE", "1");
        pb.environment().putAll(env);
        return pb.start();
    }

    /** Starts the CLI in {@code cwd} with its stdout a pipe to this process ({@link Process#getInputStream}). */
    static Process startPiped(Path cwd, String... args) throws IOException {
        Files.createDirectories(cwd);
        Files.writeString(cwd.resolve("out.txt"), "(stdout was a pipe)");
        ProcessBuilder pb = new ProcessBuilder(command(args)).directory(cwd.toFile())
                .redirectError(cwd.resolve("err.txt").toFile());
        pb.environment().put("GGML_NO_BACKTRACE", "1");
        return pb.start();
    }

    /** Runs the CLI in {@code cwd} with {@code stdin} as its input, to the end. */
    static Result runWithInput(Path cwd, String stdin, String... args) throws Exception {
        Process p = start(cwd, args);
        p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        return finish(p, cwd);
    }

    static Result run(Path cwd, String... args) throws Exception {
        return runWithInput(cwd, "", args);
    }

    /** Runs the CLI in {@code cwd} with {@code env} added to its environment and nothing on its stdin. */
    static Result runWithEnv(Path cwd, Map<String, String> env, String... args) throws Exception {
        Process p = start(cwd, env, args);
        p.getOutputStream().close();
        return finish(p, cwd);
    }

    /** Waits for a child started by {@link #start} and collects what it left. */
    static Result finish(Process p, Path cwd) throws Exception {
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the CLI did not finish: " + String.join(" ", p.info().arguments()
                .map(List::of).orElse(List.of())));
        return new Result(p.exitValue(), Files.readString(cwd.resolve("out.txt")), Files.readString(cwd.resolve("err.txt")),
                hsErr(cwd));
    }

    static List<Path> hsErr(Path cwd) throws IOException {
        try (Stream<Path> s = Files.list(cwd)) {
            return s.filter(f -> f.getFileName().toString().startsWith("hs_err")).toList();
        }
    }

    private static String classPath() {
        return Stream.of(System.getProperty("java.class.path").split(File.pathSeparator))
                .map(p -> Path.of(p).toAbsolutePath().toString())
                .collect(Collectors.joining(File.pathSeparator));
    }
}
