package io.molora.engine;

import io.molora.gguf.GgufFile;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.Objects;
import java.util.Optional;

/**
 * Every file molora writes, under one rule (issue 26; docs/RELIABILITY.md, "Files molora writes"):
 *
 * <ul>
 *   <li>checked before any work ({@link #check}): a path that is one of the command's inputs (the same file, by
 *       {@link Files#isSameFile}, or a file inside an input directory), a directory, or, for a kind that is not a
 *       stream of records, a device or pipe, is refused; so is a missing folder (kinds that make their folder make it
 *       here, before the work); an existing file is replaced only when it is of the command's own {@link Kind}, or
 *       with {@code force};</li>
 *   <li>written whole or not at all ({@link Target#write}): into a temporary file beside the target (same file system),
 *       then moved over it atomically; through a symbolic link, the file it points to is replaced, not the link;</li>
 *   <li>every refusal and failure names the path the user gave and the cause, in one line.</li>
 * </ul>
 *
 * <p>The writers: train-router's router file ({@link #ROUTER}), bench fixtures, the demo's built-in model and PEFT
 * directories converted to GGUF ({@link #CACHE}, {@link PeftAdapters}), complete's result file and chat's /save (their kinds live with their formats, in the CLI).
 * complete's output is the one that is not rewritten through a temporary file: it is appended to in place, one record
 * per write, under a lock, so that a killed run resumes (see the CLI's ResultLog).
 */
public final class OutputFile {
    private OutputFile() {}

    /** What a command writes: how to recognise an existing file of its own kind, and where it may go. */
    public interface Kind {
        /** The kind in words, for messages: "a molora router file". */
        String description();

        /**
         * Why an existing regular file is not of this kind, as a predicate ("is not a molora router file (...)"),
         * or empty when it is (then it is replaced without {@code --force}).
         */
        Optional<String> whyNot(Path file) throws IOException;

        /** A device or pipe takes this output as it is ({@code /dev/stdout}), instead of being refused. */
        default boolean streams() {
            return false;
        }

        /** A missing folder of the output is made (at {@link #check}, before any work), instead of refused. */
        default boolean makesFolder() {
            return false;
        }
    }

    /** train-router's output: a GGUF file whose {@code general.type} is {@code router} (read in Java, gguf module). */
    public static final Kind ROUTER = new Kind() {
        @Override
        public String description() {
            return "a molora router file";
        }

        @Override
        public Optional<String> whyNot(Path file) {
            String type;
            try (GgufFile f = GgufFile.open(file)) {
                type = f.string("general.type").orElse("");
            } catch (IOException | RuntimeException e) {
                return Optional.of("is not a molora router file (not GGUF: " + firstLine(e) + ")");
            }
            return type.equals("router") ? Optional.empty()
                    : Optional.of("is not a molora router file (a GGUF file whose general.type is '" + type + "')");
        }
    };

    /** Files in molora's cache (bench fixtures, the demo's model): molora's own by where they are; folders are made. */
    public static final Kind CACHE = new Kind() {
        @Override
        public String description() {
            return "a file in molora's cache";
        }

        @Override
        public Optional<String> whyNot(Path file) {
            return Optional.empty();
        }

        @Override
        public boolean makesFolder() {
            return true;
        }
    };

    /** Why an output was refused. */
    public enum Cause { INPUT, INSIDE_INPUT, DIRECTORY, DEVICE, NO_FOLDER, NOT_WRITABLE, OTHER_KIND }

    /** An output refused before any work; nothing was written. */
    public static final class Refused extends IllegalArgumentException {
        private final Path given;
        private final Cause cause;
        private final String reason;

        Refused(Path given, Cause cause, String reason, String message) {
            super(message);
            this.given = given;
            this.cause = cause;
            this.reason = reason;
        }

        /** The path as the user gave it. */
        public Path given() {
            return given;
        }

        public Cause cause() {
            return cause;
        }

        /** The cause alone, to follow "cannot save to PATH: " ("it is a directory", "no folder F"). */
        public String reason() {
            return reason;
        }
    }

    /** Writing failed after the check (a full disk, ...); the target is as it was. */
    public static final class WriteFailed extends IOException {
        private final String reason;

        WriteFailed(Path given, IOException cause) {
            super("cannot write output " + given + ": " + OutputFile.reason(cause), cause);
            this.reason = OutputFile.reason(cause);
        }

        /** The cause in words ("No space left on device"). */
        public String reason() {
            return reason;
        }
    }

    /** Fills {@code file} (a new, empty path beside the target, or the device itself) with the output. */
    @FunctionalInterface
    public interface Writer {
        void write(Path file) throws IOException;
    }

    /**
     * An output that passed {@link #check} (the only way to get one: a writer that takes a Target cannot skip the
     * check).
     */
    public static final class Target {
        private final Path given;
        private final Path file;
        private final boolean stream;

        private Target(Path given, Path file, boolean stream) {
            this.given = given;
            this.file = file;
            this.stream = stream;
        }

        /** The path as the user gave it (what messages name). */
        public Path given() {
            return given;
        }

        /** Where the bytes go: absolute, a link followed to the file it names. */
        public Path file() {
            return file;
        }

        /** A device or pipe, written to as it is. */
        public boolean stream() {
            return stream;
        }

        /**
         * Writes the output whole or not at all: {@code writer} fills a temporary file beside the target, which is
         * flushed to disk and moved over the target atomically; on any failure the temporary file is removed and the
         * target is as it was. A stream is written to directly.
         *
         * @throws WriteFailed naming the path given and the cause
         */
        public void write(Writer writer) throws WriteFailed {
            if (stream) {
                try {
                    writer.write(file);
                } catch (IOException e) {
                    throw new WriteFailed(given, e);
                }
                return;
            }
            Path tmp = file.resolveSibling("." + file.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
            try {
                Files.deleteIfExists(tmp);  // a leftover of a killed process that had this pid
                writer.write(tmp);
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                    ch.force(true);
                }
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new WriteFailed(given, e);
            } finally {
                try {
                    Files.deleteIfExists(tmp);  // there only when something failed
                } catch (IOException ignored) {
                    // the first error is the one to report
                }
            }
        }
    }

    /**
     * Checks {@code given} as an output of {@code kind} for a command reading {@code inputs} (files or directories;
     * missing ones are skipped), before any work. With {@code force} an existing file of another kind may be
     * replaced; never an input, a directory or (for a kind that does not stream) a device.
     *
     * @throws Refused naming {@code given} and the cause; nothing was written
     */
    public static Target check(Path given, Kind kind, Collection<Path> inputs, boolean force) {
        Objects.requireNonNull(given, "given");
        Path file = given.toAbsolutePath().normalize();
        if (Files.isSymbolicLink(given)) {
            try {
                file = given.toRealPath();
            } catch (IOException e) {
                // a link to nothing: the link itself is replaced
            }
        }
        boolean exists = Files.exists(file);
        if (Files.isDirectory(file)) {
            throw new Refused(given, Cause.DIRECTORY, "it is a directory",
                    "output " + given + " is a directory; -o names a file");
        }
        for (Path input : inputs) {
            if (input == null || !Files.exists(input)) {
                continue;
            }
            if (Files.isDirectory(input)) {
                if (inside(file, input)) {
                    throw new Refused(given, Cause.INSIDE_INPUT, "it is inside " + input + ", one of the inputs",
                            "output " + given + " is inside " + input + ", a directory this command reads (its files "
                                    + "are inputs); nothing was written: name a file elsewhere");
                }
            } else if (exists && same(file, input)) {
                throw new Refused(given, Cause.INPUT, "it is " + input + ", one of the inputs",
                        "output " + given + " is " + (input.toString().equals(given.toString()) ? "" : input + ", ")
                                + "one of this command's inputs; nothing was changed: name another file");
            }
        }
        if (exists && !Files.isRegularFile(file)) {
            if (kind.streams()) {
                return new Target(given, file, true);
            }
            throw new Refused(given, Cause.DEVICE, "it is a device or pipe, not a file",
                    "output " + given + " is a device or pipe, not a file; " + kind.description()
                            + " is written to a file: name one");
        }
        Path folder = file.getParent();
        if (folder != null && !Files.isDirectory(folder)) {
            if (!kind.makesFolder() || Files.exists(folder)) {
                throw new Refused(given, Cause.NO_FOLDER, "no folder " + folder,
                        "output " + given + ": no folder " + folder + "; nothing was done: make it first, or name "
                                + "another file");
            }
            try {
                Files.createDirectories(folder);
            } catch (IOException e) {
                throw new Refused(given, Cause.NO_FOLDER, "cannot make folder " + folder + ": " + reason(e),
                        "output " + given + ": cannot make folder " + folder + ": " + reason(e));
            }
        }
        if (folder != null && !Files.isWritable(folder)) {
            throw new Refused(given, Cause.NOT_WRITABLE, "folder " + folder + " is not writable",
                    "output " + given + ": folder " + folder + " is not writable; nothing was done");
        }
        if (exists && !force) {
            Optional<String> whyNot;
            try {
                whyNot = kind.whyNot(file);
            } catch (IOException e) {
                whyNot = Optional.of("cannot be read (" + reason(e) + ")");
            }
            if (whyNot.isPresent()) {
                throw new Refused(given, Cause.OTHER_KIND, "it " + whyNot.get(),
                        "output " + given + " " + whyNot.get() + "; nothing was changed: name another file, or add "
                                + "--force to replace it");
            }
        }
        return new Target(given, file, false);
    }

    /** Whether {@code file} (which may not exist yet) lies under directory {@code dir}, both by real path. */
    private static boolean inside(Path file, Path dir) {
        try {
            Path realDir = dir.toRealPath();
            Path parent = file.getParent();
            // the file's folder by its real path (links in it followed), the name as it is
            Path real = parent != null && Files.isDirectory(parent)
                    ? parent.toRealPath().resolve(file.getFileName()) : file;
            return real.startsWith(realDir);
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean same(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    /** The reason of an I/O error in words (Java's file exceptions often carry only the path as their message). */
    public static String reason(IOException e) {
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        return switch (e) {
            case NoSuchFileException n -> "no such file or directory";
            case AccessDeniedException a -> "permission denied";
            case NotDirectoryException d -> "not a directory";
            case WriteFailed w -> w.reason();
            default -> e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        };
    }

    private static String firstLine(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.lines().findFirst().orElse(m);
    }
}
