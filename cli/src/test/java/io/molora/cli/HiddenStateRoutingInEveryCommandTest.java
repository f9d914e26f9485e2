package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.runtime.ChatTemplate;
import io.molora.runtime.Model;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jline.terminal.impl.ExternalTerminal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A learned router with {@code token+hidden} features routes the same way in every command: {@code chat} and
 * {@code complete} give the same text and the same per-token routes as {@code generate} for the same prompt (greedy),
 * which feeds the gate the hidden states (a base pass over the prompt, then the decode loop's own states).
 */
class HiddenStateRoutingInEveryCommandTest {
    @TempDir
    static Path dir;
    static Path model;
    static Path math;
    static Path code;
    static Path router;

    @BeforeAll
    static void trainRouter() throws IOException {
        TinyFamily f = TinyFamily.write(dir);
        model = f.model();
        math = f.math();
        code = f.code();
        Files.writeString(dir.resolve("ctx-train.txt"), RouterCommandsTest.contextText(1, 500));
        router = dir.resolve("hidden-router.gguf");
        CliTest.Run train = CliTest.run("train-router", "-m", model.toString(), "--lora", "math=" + math, "--lora",
                "code=" + code, "--corpus", dir.resolve("ctx-train.txt").toString(), "-o", router.toString(),
                "--seq-len", "128", "--hidden", "32", "--epochs", "60", "--seed", "3", "--features", "token+hidden");
        assertEquals(0, train.exit(), train.err());
    }

    @AfterEach
    void clearTerminal() {
        ChatCommand.testTerminal = null;
    }

    private static final int N = 8;

    private static List<String> common(String command) {
        return new ArrayList<>(List.of(command, "-m", model.toString(), "-c", "256", "--lora", "math=" + math,
                "--lora", "code=" + code, "--router", router.toString(), "--temp", "0", "-n", Integer.toString(N)));
    }

    /** What generate produced after the prompt: the text and, per character of it, the route it was traced with. */
    record Traced(String text, List<String> routes) {}

    private static final Pattern MARKER = Pattern.compile("\\[(base|\\?|(?:math|code)(?:\\+(?:math|code))*)]");

    /** generate --show-routes: the trace after the legend line, markers removed, from the end of the prompt on. */
    static Traced generate(String prompt) {
        List<String> args = common("generate");
        args.addAll(List.of("--show-routes", "-p", prompt));
        CliTest.Run r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        String trace = r.out().substring(r.out().indexOf('\n') + 1);
        trace = trace.substring(0, trace.length() - 1);  // the final newline
        StringBuilder text = new StringBuilder();
        List<String> routes = new ArrayList<>();
        String current = "base";
        Matcher m = MARKER.matcher(trace);
        int at = 0;
        while (m.find()) {
            for (int i = at; i < m.start(); i++) {
                text.append(trace.charAt(i));
                routes.add(current);
            }
            current = m.group(1);
            at = m.end();
        }
        for (int i = at; i < trace.length(); i++) {
            text.append(trace.charAt(i));
            routes.add(current);
        }
        assertTrue(text.toString().startsWith(prompt), text.toString());
        int from = prompt.length();
        return new Traced(text.substring(from), routes.subList(from, routes.size()));
    }

    /** complete --show-routes: the record's text and, per character, its token's adapters as generate marks them. */
    static Traced traced(JsonNode record) {
        StringBuilder text = new StringBuilder();
        List<String> routes = new ArrayList<>();
        for (JsonNode t : record.get("routes")) {
            List<String> names = new ArrayList<>();
            t.get("adapters").forEach(a -> names.add(a.asText()));
            String key = names.isEmpty() ? "base" : String.join("+", names);
            String piece = t.get("token").asText();
            text.append(piece);
            for (int i = 0; i < piece.length(); i++) {
                routes.add(key);
            }
        }
        return new Traced(text.toString(), routes);
    }

    @Test
    void chatAndCompleteRouteAsGenerateDoes() throws Exception {
        String user = "apple for then";
        Path in = Files.write(dir.resolve("in.jsonl"), List.of(
                "{\"custom_id\":\"if\",\"prompt\":\"apple if then\"}",
                "{\"custom_id\":\"for\",\"prompt\":\"apple for then\"}",
                "{\"custom_id\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"" + user + "\"}]}"));
        Path out = dir.resolve("out.jsonl");
        List<String> args = common("complete");
        args.addAll(List.of("--show-routes", "--parallel", "1", "-o", out.toString(), in.toString()));
        CliTest.Run r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        Map<String, JsonNode> res = CompleteCommandTest.byId(CompleteCommandTest.records(out));

        // complete: the same text and routes as generate, request by request
        Map<String, String> prompts = Map.of("if", "apple if then", "for", "apple for then", "chat", chatPrompt(user));
        for (var e : prompts.entrySet()) {
            JsonNode rec = res.get(e.getKey());
            String text = rec.get("text").asText();
            Traced expected = generate(e.getValue());
            assertEquals(expected.text(), text, e.getKey() + ": " + rec);
            assertEquals(expected.routes(), traced(rec).routes(), e.getKey() + ": " + rec);
        }
        // the gate's context decides: "if then" is followed by 7 (math), "for then" by return (code)
        assertTrue(res.get("if").get("text").asText().startsWith("7"), res.get("if").toString());
        assertTrue(res.get("for").get("text").asText().startsWith(" return"), res.get("for").toString());

        // chat: the reply of the same conversation, and the routes of the tokens it decoded (all but the last)
        JsonNode asChat = res.get("chat");
        Map<String, Integer> expectedCounts = new TreeMap<>();
        JsonNode tokens = asChat.get("routes");
        for (int i = 0; i < tokens.size() - 1; i++) {
            JsonNode adapters = tokens.get(i).get("adapters");
            if (adapters.isEmpty()) {
                expectedCounts.merge("none", 1, Integer::sum);
            }
            adapters.forEach(a -> expectedCounts.merge(a.asText(), 1, Integer::sum));
        }
        ByteArrayOutputStream screen = new ByteArrayOutputStream();
        PipedOutputStream keys = new PipedOutputStream();
        ChatCommand.testTerminal = new ExternalTerminal("test", "xterm", new PipedInputStream(keys, 1 << 16), screen,
                StandardCharsets.UTF_8);
        AtomicReference<CliTest.Run> result = new AtomicReference<>();
        List<String> chatArgs = common("chat");
        chatArgs.addAll(List.of("--history", "", "--show-routes"));
        Thread chat = new Thread(() -> result.set(CliTest.run(chatArgs.toArray(String[]::new))));
        chat.start();
        waitFor(screen, "/help for commands", chat);
        keys.write((user + "\r").getBytes(StandardCharsets.UTF_8));
        keys.flush();
        waitFor(screen, "tok/s", chat);
        Path saved = dir.resolve("chat.json");
        keys.write(("/save " + saved + "\r").getBytes(StandardCharsets.UTF_8));
        keys.flush();
        waitFor(screen, "saved 2 messages", chat);
        keys.write("\u0004".getBytes(StandardCharsets.UTF_8));
        keys.flush();
        chat.join(30_000);
        assertEquals(0, result.get().exit(), result.get().err());
        JsonNode json = new ObjectMapper().readTree(Files.readString(saved));
        assertEquals(asChat.get("text").asText(), json.get("messages").get(1).get("content").asText());
        String s = screen.toString(StandardCharsets.UTF_8);
        Matcher m = Pattern.compile("; routes: ([^\\]]*)]").matcher(s);
        assertTrue(m.find(), s);
        Map<String, Integer> counted = new TreeMap<>();
        for (String c : m.group(1).split(" ")) {
            String[] kv = c.split("×");
            counted.put(kv[0], Integer.parseInt(kv[1]));
        }
        assertEquals(expectedCounts, counted, s);
    }

    /** The conversation of one user message, formatted by the model's chat template (as chat and complete do). */
    static String chatPrompt(String user) {
        try (Model m = Model.load(model, NativeTestSupport.modelParams())) {
            return ChatTemplate.of(m).apply(List.of(new ChatTemplate.Message("user", user)), true);
        }
    }

    private static void waitFor(ByteArrayOutputStream screen, String text, Thread chat) throws InterruptedException {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (System.nanoTime() < deadline && chat.isAlive()) {
            if (screen.toString(StandardCharsets.UTF_8).contains(text)) {
                return;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("no '" + text + "' on the screen:\n" + screen.toString(StandardCharsets.UTF_8));
    }
}
