package io.molora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.engine.Completion;
import io.molora.engine.Route;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

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

    /** Unreadable lines found (and dropped, if at the end) when opening. */
    int tornLines() {
        return torn;
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
        ObjectNode usage = r.putObject("usage");
        usage.put("prompt_tokens", c.promptTokens());
        usage.put("completion_tokens", c.completionTokens());
        usage.put("total_tokens", c.promptTokens() + c.completionTokens());
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
            ArrayNode list = r.putArray("routes");
            for (Completion.TokenRoute t : c.routes()) {
                ArrayNode used = JSON.createArrayNode();
                Route route = t.route();
                for (int j = 0; j < route.adapters().length; j++) {
                    String name = adapterNames.get(route.adapters()[j]);
                    used.add(route.weights()[j] == 1f ? name : name + ":" + route.weights()[j]);
                }
                list.addObject().put("token", t.text()).set("adapters", used);
            }
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
