package io.molora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSONL output of a batch run, crash-safe: each record is one line written by one {@code write} call straight to
 * the file (no buffer in this process), so killing the process at any moment loses only records not yet written. On
 * open, a torn last line (a power cut) is cut off, and the ids already there are read so a rerun skips them.
 */
final class ResultLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final FileOutputStream out;
    /** custom_id → whether its record is an error, for the records already in the file. */
    private final Map<String, Boolean> existing = new HashMap<>();
    private int torn;

    private ResultLog(Path path, boolean resume) throws IOException {
        if (resume && Files.exists(path)) {
            truncateTornTail(path);
            List<String> lines = Files.readAllLines(path, StandardCharsets.UTF_8);
            for (String line : lines) {
                if (line.isBlank()) {
                    continue;
                }
                try {
                    JsonNode n = JSON.readTree(line);
                    if (n.hasNonNull("custom_id")) {
                        existing.put(n.get("custom_id").asText(), n.has("error"));
                    }
                } catch (IOException e) {
                    torn++;
                }
            }
        }
        if (path.getParent() != null) {
            Files.createDirectories(path.getParent());
        }
        this.out = new FileOutputStream(path.toFile(), resume);
    }

    static ResultLog open(Path path, boolean resume) {
        try {
            return new ResultLog(path, resume);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open output " + path + ": " + e.getMessage(), e);
        }
    }

    /** Cuts an unterminated last line (left by a crash mid-write) so the next record starts on a line of its own. */
    private void truncateTornTail(Path path) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
            long len = f.length();
            if (len == 0) {
                return;
            }
            f.seek(len - 1);
            if (f.read() == '\n') {
                return;
            }
            long pos = len - 1;
            while (pos > 0) {
                f.seek(pos - 1);
                if (f.read() == '\n') {
                    break;
                }
                pos--;
            }
            f.setLength(pos);
            torn++;
        }
    }

    /** Ids with a record in the file when it was opened, and whether that record is an error. */
    Map<String, Boolean> existing() {
        return existing;
    }

    /** Unreadable lines found (and dropped, if at the end) when opening. */
    int tornLines() {
        return torn;
    }

    /** Appends one record as one line, in one write. */
    synchronized void append(ObjectNode record) {
        try {
            byte[] line = (JSON.writeValueAsString(record) + "\n").getBytes(StandardCharsets.UTF_8);
            out.write(line);
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write output: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
