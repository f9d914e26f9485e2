package io.molora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.engine.OutputFile;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What an existing output file holds, read before a run touches it: molora's own result file has one record per line
 * (a JSON object that starts with {@code custom_id} and has {@code text} or {@code error}). Anything else — a model,
 * an input file, a file without newlines — is not molora's, and must not be changed. A line cut short by a crash
 * (it starts as a record does but is not whole JSON) is a torn record: at the end of the file it is cut, in the middle
 * (something appended after it) it stays where it is and its request runs again.
 */
final class ResultFile {
    /** How every record molora writes starts (the first field of both kinds). */
    static final byte[] RECORD_START = "{\"custom_id\":".getBytes(StandardCharsets.UTF_8);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The file is not molora's result file: nothing may be changed. */
    static final class NotResults extends Exception {
        /** Why, as a predicate: "is not molora's result file (line N ...)". */
        final String what;

        NotResults(Path path, String what) {
            super("output " + path + " " + what + "; nothing was changed: name another -o, or add --force to "
                    + "replace it");
            this.what = what;
        }
    }

    /**
     * complete's output under {@link OutputFile}'s rule: an existing file is replaced (resumed) only when it is
     * molora's result file; a device or pipe ({@code /dev/stdout}) takes the records as they come; a missing folder
     * is made. {@link ResultLog} reads the file again under its lock, which is what decides.
     */
    static final OutputFile.Kind KIND = new OutputFile.Kind() {
        @Override
        public String description() {
            return "molora's result file";
        }

        @Override
        public Optional<String> whyNot(Path file) throws IOException {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                scan(ch, file);
                return Optional.empty();
            } catch (NotResults e) {
                return Optional.of(e.what);
            }
        }

        @Override
        public boolean streams() {
            return true;
        }

        @Override
        public boolean makesFolder() {
            return true;
        }
    };

    /** What to do with an unterminated last line. */
    enum Tail { NONE, CUT, TERMINATE }

    /**
     * @param records    custom_id → whether its record is an error
     * @param tornLines  1-based numbers of torn records in the middle (kept)
     * @param tail       what the unterminated last line needs: cut (a torn record), a newline (a whole record) or nothing
     * @param tailStart  where the last line starts (the length to cut to)
     */
    record Scan(Map<String, Boolean> records, List<Integer> tornLines, Tail tail, long tailStart, long size) {}

    private ResultFile() {}

    /** Reads the file through {@code channel} (the caller's, which holds its lock) from the start. */
    static Scan scan(FileChannel channel, Path path) throws IOException, NotResults {
        Map<String, Boolean> records = new HashMap<>();
        List<Integer> torn = new ArrayList<>();
        Map<String, String> names = new HashMap<>();
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(1 << 16);
        long size = channel.size();
        long pos = 0;
        long lineStart = 0;
        int lineNo = 1;
        boolean checked = false;  // the current line's start was checked
        while (pos < size) {
            buf.clear();
            int n = channel.read(buf, pos);
            if (n < 0) {
                break;
            }
            byte[] a = buf.array();
            for (int i = 0; i < n; i++) {
                byte b = a[i];
                if (b == '\n') {
                    classify(line.toByteArray(), lineNo, path, records, torn, names);
                    line.reset();
                    lineNo++;
                    lineStart = pos + i + 1;
                    checked = false;
                    continue;
                }
                line.write(b);
                if (!checked && line.size() == RECORD_START.length) {
                    // refuse at once what cannot be a record (a model file, a file without newlines...)
                    checked = true;
                    byte[] start = line.toByteArray();
                    if (!isBlank(start) && !Arrays.equals(start, RECORD_START)) {
                        throw notResults(path, lineNo);
                    }
                }
            }
            pos += n;
        }
        Tail tail = Tail.NONE;
        if (line.size() > 0) {
            byte[] last = line.toByteArray();
            if (isBlank(last)) {
                tail = Tail.NONE;
            } else if (record(last) != null) {
                tail = Tail.TERMINATE;
                classify(last, lineNo, path, records, torn, names);
            } else if (startsLikeRecord(last)) {
                tail = Tail.CUT;
            } else {
                throw notResults(path, lineNo);
            }
        }
        return new Scan(records, torn, tail, lineStart, size);
    }

    private static NotResults notResults(Path path, int line) {
        return new NotResults(path, "is not molora's result file (line " + line + " is not a result record: a JSON "
                + "object with custom_id and text or error)");
    }

    private static void classify(byte[] line, int lineNo, Path path, Map<String, Boolean> records, List<Integer> torn,
            Map<String, String> names) throws NotResults {
        if (isBlank(line)) {
            return;
        }
        JsonNode r = record(line);
        if (r != null) {
            records.put(stableId(r, names), r.has("error"));
        } else if (startsLikeRecord(line) && !json(line)) {
            torn.add(lineNo);
        } else {
            throw notResults(path, lineNo);
        }
    }

    /** The line as a result record, or null. */
    private static JsonNode record(byte[] line) {
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (IOException e) {
            return null;
        }
        if (n == null || !n.isObject() || !n.path("custom_id").isTextual()) {
            return null;
        }
        return n.path("text").isTextual() || n.path("error").isObject() ? n : null;
    }

    private static boolean json(byte[] line) {
        try {
            JSON.readTree(line);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Starts with {@link #RECORD_START} (or is a beginning of it: a record torn within its first bytes). */
    private static boolean startsLikeRecord(byte[] line) {
        int n = Math.min(line.length, RECORD_START.length);
        return Arrays.equals(line, 0, n, RECORD_START, 0, n);
    }

    private static boolean isBlank(byte[] line) {
        for (byte b : line) {
            if (b != ' ' && b != '\t' && b != '\r') {
                return false;
            }
        }
        return true;
    }

    /**
     * A record's id as this version names its request. Ids molora made from a file's name ({@code FILE} or
     * {@code FILE:LINE}, and duplicates' {@code ID#dup@FILE:LINE}) were the name as typed before; they are read as the
     * file's {@link BatchInput#sourceName stable name} (resolved from the current folder), so outputs of earlier runs
     * resume without running their requests again.
     */
    private static String stableId(JsonNode r, Map<String, String> names) {
        String id = r.get("custom_id").asText();
        JsonNode where = r.has("error") ? r.get("error") : r;
        if (!where.path("file").isTextual() || !where.path("line").canConvertToInt()) {
            return id;
        }
        String file = where.get("file").asText();
        String at = file + ":" + where.get("line").asInt();
        String stable = names.computeIfAbsent(file, f -> {
            try {
                return BatchInput.sourceName(Path.of(f));
            } catch (InvalidPathException e) {
                return f;
            }
        });
        if (stable.equals(file)) {
            return id;
        }
        String stableAt = stable + ":" + where.get("line").asInt();
        if (id.equals(file)) {
            return stable;
        }
        if (id.equals(at)) {
            return stableAt;
        }
        if (id.endsWith("#dup@" + at)) {
            return id.substring(0, id.length() - at.length()) + stableAt;
        }
        return id;
    }
}
