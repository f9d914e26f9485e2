package io.molora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.engine.AdapterMix;
import io.molora.engine.CompletionRequest;
import io.molora.engine.Prompt;
import io.molora.engine.TextFiles;
import io.molora.runtime.ChatTemplate;
import io.molora.runtime.SamplerParams;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The requests of a batch run, read from JSONL files (OpenAI batch style) or plain text files, with the run's defaults
 * for what a request leaves out. A line that cannot be read becomes a {@link Failed} item naming its file and line;
 * it never stops the run.
 */
final class BatchInput {
    enum Format { AUTO, JSONL, TEXT, LINES }

    /** One line (or file) of input: a request, or what was wrong with it. */
    sealed interface Item {
        String id();

        String file();

        int line();
    }

    /** A request read from {@code file}, line {@code line} (1 for a whole file). */
    record Request(String file, int line, CompletionRequest request) implements Item {
        @Override
        public String id() {
            return request.id();
        }
    }

    /** A line that could not be read; {@code error} names its file and line. */
    record Failed(String id, String file, int line, String error) implements Item {}

    /** What a request that says nothing else gets: the run's token limit and sampling. */
    record Defaults(int maxTokens, SamplerParams sampling) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private BatchInput() {}

    /** Every item of the given files and directories (a directory: its regular files, sorted by name). */
    static List<Item> read(List<Path> inputs, Format format, Defaults defaults) {
        List<Item> items = new ArrayList<>();
        for (Path input : inputs) {
            if (Files.isDirectory(input)) {
                try (Stream<Path> files = Files.list(input)) {
                    for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                        readFile(f, format, defaults, items);
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot list input directory " + input + ": " + e.getMessage(), e);
                }
            } else if (Files.isRegularFile(input)) {
                readFile(input, format, defaults, items);
            } else {
                throw new IllegalArgumentException("input " + input + " not found");
            }
        }
        return items;
    }

    /**
     * How a file is named in ids, records and messages: its real path (absolute, symbolic links resolved), so that
     * {@code ./a.jsonl}, {@code a.jsonl}, {@code /home/me/a.jsonl} and a link to it give the same ids whatever the
     * folder and spelling; a path that cannot be resolved: absolute and normalised.
     */
    static String sourceName(Path file) {
        try {
            return file.toRealPath().toString();
        } catch (IOException e) {
            return file.toAbsolutePath().normalize().toString();
        }
    }

    private static void readFile(Path file, Format format, Defaults defaults, List<Item> items) {
        String name = sourceName(file);
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            items.add(new Failed(name, name, 0, "cannot read " + name + ": " + IoErrors.reason(e)));
            return;
        }
        Format f = format;
        if (f == Format.AUTO) {
            String lower = file.getFileName().toString().toLowerCase();
            f = lower.endsWith(".jsonl") || lower.endsWith(".ndjson") ? Format.JSONL : Format.TEXT;
        }
        if (f == Format.TEXT) {
            String prompt;
            try {
                prompt = TextFiles.decode(bytes, TextFiles.textStart(bytes), bytes.length).strip();
            } catch (TextFiles.NotUtf8Exception e) {
                items.add(new Failed(name, name, 1, name + ": " + e.getMessage()));
                return;
            }
            items.add(prompt.isEmpty() ? new Failed(name, name, 1, name + ": the file is empty")
                    : prompt(name, name, 1, prompt, defaults));
            return;
        }
        // one item per line (ends: \n, \r\n or \r, as String.lines()); a line that is not UTF-8 fails alone; a byte
        // order mark before the first line is not part of it
        int lineNo = 0;
        for (int start = TextFiles.textStart(bytes); start < bytes.length; ) {
            int end = start;
            while (end < bytes.length && bytes[end] != '\n' && bytes[end] != '\r') {
                end++;
            }
            lineNo++;
            String where = name + ":" + lineNo;
            try {
                String line = TextFiles.decode(bytes, start, end);
                if (!line.isBlank()) {
                    items.add(f == Format.LINES ? prompt(where, name, lineNo, line.strip(), defaults)
                            : jsonLine(line, name, lineNo, defaults));
                }
            } catch (TextFiles.NotUtf8Exception e) {
                items.add(new Failed(where, name, lineNo, where + ": " + e.getMessage()));
            }
            start = end < bytes.length && bytes[end] == '\r' && end + 1 < bytes.length && bytes[end + 1] == '\n'
                    ? end + 2 : end + 1;
        }
    }

    private static Item prompt(String id, String file, int line, String prompt, Defaults defaults) {
        return new Request(file, line, new CompletionRequest(id, new Prompt.Text(prompt),
                maxTokens(defaults.maxTokens()), defaults.sampling()));
    }

    /** A token limit as the command line and JSON give it: negative = until end of text or a full slot. */
    private static int maxTokens(int n) {
        return n < 0 ? Integer.MAX_VALUE : n;
    }

    /** One JSONL line: {@code custom_id}, {@code prompt} or {@code messages}, options; or the same inside {@code body}. */
    static Item jsonLine(String text, String file, int line, Defaults defaults) {
        String where = file + ":" + line;
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (IOException e) {
            String msg = e.getMessage() == null ? "malformed JSON" : e.getMessage().lines().findFirst().orElse("");
            return new Failed(where, file, line, where + ": not valid JSON: " + msg);
        }
        if (root == null || !root.isObject()) {
            return new Failed(where, file, line, where + ": expected a JSON object");
        }
        String id = root.hasNonNull("custom_id") ? root.get("custom_id").asText() : where;
        JsonNode body = root.has("body") && root.get("body").isObject() ? root.get("body") : root;
        try {
            Prompt prompt;
            if (body.hasNonNull("prompt")) {
                if (!body.get("prompt").isTextual()) {
                    throw new IllegalArgumentException("\"prompt\" must be a string");
                }
                prompt = new Prompt.Text(body.get("prompt").asText());
            } else if (body.has("messages")) {
                JsonNode ms = body.get("messages");
                if (!ms.isArray() || ms.isEmpty()) {
                    throw new IllegalArgumentException("\"messages\" must be a non-empty array");
                }
                List<ChatTemplate.Message> messages = new ArrayList<>();
                for (JsonNode m : ms) {
                    if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
                        throw new IllegalArgumentException("each message needs a string \"role\" and \"content\"");
                    }
                    messages.add(new ChatTemplate.Message(m.get("role").asText(), m.get("content").asText()));
                }
                prompt = new Prompt.Chat(messages);
            } else {
                throw new IllegalArgumentException("needs \"prompt\" or \"messages\"");
            }
            int maxTokens = defaults.maxTokens();
            for (String key : List.of("max_tokens", "max_completion_tokens", "n_predict")) {
                if (body.hasNonNull(key)) {
                    maxTokens = intField(body, key);
                    // OpenAI's fields take a count; llama-server's n_predict takes -1 for "no limit"
                    int least = key.equals("n_predict") ? -1 : 0;
                    if (maxTokens < least) {
                        throw new IllegalArgumentException("\"" + key + "\" must be " + (least == 0 ? ">= 0" : "-1 or >= 0")
                                + ", got " + maxTokens);
                    }
                    break;
                }
            }
            Map<String, Float> adapters = null;
            if (body.has("adapters")) {
                JsonNode a = body.get("adapters");
                adapters = new LinkedHashMap<>();
                if (a.isObject()) {
                    for (Map.Entry<String, JsonNode> e : a.properties()) {
                        if (!e.getValue().isNumber()) {
                            throw new IllegalArgumentException("weight of adapter '" + e.getKey() + "' must be a number");
                        }
                        adapters.put(e.getKey(), e.getValue().floatValue());
                    }
                } else if (a.isArray()) {
                    for (JsonNode n : a) {
                        adapters.put(n.asText(), 1f);
                    }
                } else {
                    throw new IllegalArgumentException("\"adapters\" must be an object {name: weight} or an array of names");
                }
            } else if (body.has("adapter")) {
                if (!body.get("adapter").isTextual()) {
                    throw new IllegalArgumentException("\"adapter\" must be a name");
                }
                adapters = new LinkedHashMap<>();
                String a = body.get("adapter").asText();
                if (!a.equals("none") && !a.equals("base")) {
                    adapters.put(a, 1f);
                }
            }
            if (body.has("router") || body.has("routes")) {
                throw new IllegalArgumentException("per-request routers are not supported by this build yet");
            }
            SamplerParams d = defaults.sampling();
            SamplerParams sampling = new SamplerParams(floatField(body, "temperature", d.temperature()),
                    body.hasNonNull("top_k") ? intField(body, "top_k") : d.topK(), floatField(body, "top_p", d.topP()),
                    floatField(body, "min_p", d.minP()), body.hasNonNull("seed") ? intField(body, "seed") : d.seed());
            CompletionRequest request = new CompletionRequest(id, prompt, maxTokens(maxTokens), sampling,
                    Optional.empty(), stop(body));
            return new Request(file, line, adapters == null ? request : request.withAdapters(new AdapterMix(adapters)));
        } catch (IllegalArgumentException e) {
            return new Failed(id, file, line, where + ": " + e.getMessage());
        }
    }

    /** {@code stop}: a string or an array of strings (their number and emptiness are the request's to check). */
    private static List<String> stop(JsonNode body) {
        JsonNode s = body.get("stop");
        if (s == null || s.isNull()) {
            return List.of();
        }
        if (s.isTextual()) {
            return List.of(s.asText());
        }
        List<String> out = new ArrayList<>();
        if (!s.isArray()) {
            throw new IllegalArgumentException("\"stop\" must be a string or an array of strings");
        }
        for (JsonNode e : s) {
            if (!e.isTextual()) {
                throw new IllegalArgumentException("\"stop\" must be a string or an array of strings");
            }
            out.add(e.asText());
        }
        return out;
    }

    private static int intField(JsonNode body, String name) {
        JsonNode n = body.get(name);
        if (!n.canConvertToInt() || !n.isIntegralNumber()) {
            throw new IllegalArgumentException("\"" + name + "\" must be an integer");
        }
        return n.intValue();
    }

    private static float floatField(JsonNode body, String name, float otherwise) {
        if (!body.hasNonNull(name)) {
            return otherwise;
        }
        JsonNode n = body.get(name);
        if (!n.isNumber()) {
            throw new IllegalArgumentException("\"" + name + "\" must be a number");
        }
        return n.floatValue();
    }
}
