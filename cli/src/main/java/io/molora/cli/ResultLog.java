package io.molora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.engine.Completion;
import io.molora.engine.OutputFile;
import io.molora.server.OpenAiAnswers;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The JSONL output of a batch run, crash-safe: each record is one line written by one {@code write} call straight to
 * the file (no buffer in this process), so killing the process at any moment loses only records not yet written.
 *
 * <p>Opening never destroys a file and never shares one: the output is locked for the run (a second run on it
 * refuses at once, naming the process that holds it; the lock goes with the process, so a killed run leaves none),
 * then read through the same channel (a second descriptor closed in this process would drop the lock) and refused,
 * unchanged, unless it is molora's own result file ({@link ResultFile}) or {@code --force} was given. Only then is a
 * torn last line cut (or a whole last record given its newline), or, with {@code resume} off (or forced over a file
 * that is not molora's), the file emptied. A device or pipe ({@code /dev/stdout}) is written to as it is: nothing to
 * lock, read or resume. What may be an output at all (not an input, not a directory) is {@link OutputFile}'s rule,
 * checked before this opens; this is the one writer that appends in place instead of replacing through a temporary
 * file: records are written as requests complete, so that a killed run resumes.
 */
final class ResultLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    /** The output file's channel (holding its lock), or null for a device or pipe. */
    private final FileChannel channel;
    private final FileLock lock;
    private final OutputStream stream;
    /** custom_id → whether its record is an error, for the records already in the file. */
    private final Map<String, Boolean> existing;
    private final List<String> notes = new ArrayList<>();

    private ResultLog(Path path, FileChannel channel, FileLock lock, OutputStream stream, Map<String, Boolean> existing) {
        this.path = path;
        this.channel = channel;
        this.lock = lock;
        this.stream = stream;
        this.existing = existing;
    }

    /**
     * Opens {@code output} (checked by {@link OutputFile#check} with {@link ResultFile#KIND}) for a run: locked,
     * checked again under the lock to be molora's, repaired at its end (resume) or emptied (no resume, or with
     * {@code force} a file that is not molora's).
     *
     * @throws IllegalStateException when another process holds the output, or it is not molora's result file
     * @throws UncheckedIOException  when it cannot be opened, read or locked
     */
    static ResultLog open(OutputFile.Target output, boolean resume, boolean force) {
        Path path = output.given();
        if (output.stream()) {
            try {
                return new ResultLog(path, null, null, new FileOutputStream(output.file().toFile(), true),
                        new HashMap<>());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot open output " + path + ": " + IoErrors.reason(e), e);
            }
        }
        FileChannel ch = null;
        try {
            ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;  // this process holds it already
            }
            if (lock == null) {
                throw new IllegalStateException("output " + path + " is being written by another molora run ("
                        + LockHolder.of(path).map(pid -> "process " + pid).orElse("another process")
                        + "); wait for it to finish, or stop it");
            }
            ResultFile.Scan scan;
            try {
                scan = ResultFile.scan(ch, path);
            } catch (ResultFile.NotResults e) {
                if (!force) {
                    throw new IllegalStateException(e.getMessage());
                }
                scan = new ResultFile.Scan(Map.of(), List.of(), ResultFile.Tail.NONE, 0, ch.size());
                resume = false;  // --force: what was there is not molora's; the run starts it over
            }
            ResultLog log = new ResultLog(path, ch, lock, Channels.newOutputStream(ch),
                    resume ? new HashMap<>(scan.records()) : new HashMap<>());
            if (!resume) {
                ch.truncate(0);
            } else {
                log.repair(scan);
            }
            ch.position(ch.size());
            return log;
        } catch (IOException e) {
            close(ch);
            throw new UncheckedIOException("cannot open output " + path + ": " + IoErrors.reason(e), e);
        } catch (RuntimeException e) {
            close(ch);
            throw e;
        }
    }

    private static void close(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // the first error is the one to report
            }
        }
    }

    /** Cuts a torn last line, ends a whole last record with its newline, and notes torn lines left in the middle. */
    private void repair(ResultFile.Scan scan) throws IOException {
        switch (scan.tail()) {
            case CUT -> {
                channel.truncate(scan.tailStart());
                notes.add("cut a torn last line of " + path + " (" + (scan.size() - scan.tailStart())
                        + " bytes of an unfinished record; its request runs again)");
            }
            case TERMINATE -> {
                channel.write(ByteBuffer.wrap(new byte[] {'\n'}), scan.size());
                notes.add("the last record of " + path + " had no newline; added one");
            }
            case NONE -> { }
        }
        if (!scan.tornLines().isEmpty()) {
            List<Integer> t = scan.tornLines();
            notes.add((t.size() == 1 ? "line " + t.get(0) + " of " + path + " is a torn record, kept as it is"
                    : "lines " + t.stream().map(String::valueOf).collect(Collectors.joining(", ")) + " of " + path
                            + " are torn records, kept as they are")
                    + " (something was appended after an interrupted write; the requests run again if they have no"
                    + " other record)");
        }
    }

    /** What opening found and did to the file (torn lines), one line each, for the user. */
    List<String> notes() {
        return List.copyOf(notes);
    }

    /** What a run still has to do, given the records already in the file. */
    record Plan(List<BatchInput.Item> todo, int skipped, int priorErrors) {}

    /**
     * The items still to do: those whose id has no record yet; a repeated id becomes an error item of its own (once:
     * a rerun skips it too). Items already done are skipped; those done with an error count as earlier failures.
     */
    Plan plan(List<BatchInput.Item> items) {
        List<BatchInput.Item> todo = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        int skipped = 0;
        int priorErrors = 0;
        for (BatchInput.Item item : items) {
            if (!seen.add(item.id())) {
                String dup = item.id() + "#dup@" + item.file() + ":" + item.line();
                if (!existing.containsKey(dup)) {
                    todo.add(new BatchInput.Failed(dup, item.file(), item.line(), item.file() + ":" + item.line()
                            + ": duplicate custom_id '" + item.id() + "'"));
                } else {
                    priorErrors++;
                }
                continue;
            }
            if (existing.containsKey(item.id())) {
                skipped++;
                if (existing.get(item.id())) {
                    priorErrors++;
                }
                continue;
            }
            todo.add(item);
        }
        return new Plan(todo, skipped, priorErrors);
    }

    /** The record of a completed request read from {@code source}; with {@code routes}, each token's adapters. */
    void appendResult(Completion c, BatchInput.Request source, List<String> adapterNames, boolean routes) {
        ObjectNode r = JSON.createObjectNode();
        r.put("custom_id", c.request().id());
        r.put("text", c.text());
        r.put("finish_reason", switch (c.stopReason()) {
            case END_OF_GENERATION, STOP_STRING -> "stop";
            case MAX_TOKENS -> "length";
            case CONTEXT_FULL -> "context_full";
            case CANCELLED -> "cancelled";
        });
        r.set("usage", OpenAiAnswers.usage(c));
        ObjectNode perAdapter = r.putObject("adapter_tokens");
        c.adapterTokens().forEach(perAdapter::put);
        ObjectNode timings = r.putObject("timings");
        double promptMs = c.promptNanos() / 1e6;
        double genMs = c.generationNanos() / 1e6;
        timings.put("prompt_ms", Math.round(promptMs * 10) / 10.0);
        timings.put("generation_ms", Math.round(genMs * 10) / 10.0);
        timings.put("tokens_per_second", genMs > 0 ? Math.round(10 * (c.completionTokens() - 1) / (genMs / 1000)) / 10.0 : 0);
        r.put("file", source.file());
        r.put("line", source.line());
        if (routes) {
            r.set("routes", OpenAiAnswers.routes(c.routes(), adapterNames));
        }
        append(r);
    }

    /** The error record of an item that failed. */
    void appendError(BatchInput.Item item, String message) {
        ObjectNode r = JSON.createObjectNode();
        r.put("custom_id", item.id());
        ObjectNode e = r.putObject("error");
        e.put("message", message == null ? "failed" : message);
        e.put("file", item.file());
        e.put("line", item.line());
        append(r);
    }

    /** Appends one record as one line, in one write. */
    private synchronized void append(ObjectNode record) {
        try {
            byte[] line = (JSON.writeValueAsString(record) + "\n").getBytes(StandardCharsets.UTF_8);
            stream.write(line);
            stream.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write output " + path + ": " + IoErrors.reason(e), e);
        }
    }

    /** Closes the file, which releases its lock. */
    @Override
    public void close() {
        try {
            if (lock != null && lock.isValid()) {
                lock.release();
            }
            stream.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close output " + path + ": " + IoErrors.reason(e), e);
        }
    }
}
