package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.gguf.synth.LoraSpec;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jline.terminal.Terminal;
import org.jline.terminal.impl.ExternalTerminal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code molora chat} in a terminal: typed input, Ctrl-C during a reply, a second turn on the cache, Ctrl-D. */
class ChatCommandTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream screen = new ByteArrayOutputStream();
    private PipedOutputStream keys;

    @AfterEach
    void clear() {
        ChatCommand.testTerminal = null;
    }

    private String screen() {
        return screen.toString(StandardCharsets.UTF_8);
    }

    private void type(String s) throws IOException {
        keys.write(s.getBytes(StandardCharsets.UTF_8));
        keys.flush();
    }

    private void waitFor(String text, int occurrences, Thread chat) throws InterruptedException {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (System.nanoTime() < deadline) {
            if (count(screen(), text) >= occurrences) {
                return;
            }
            if (!chat.isAlive()) {
                break;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("no '" + text + "' (x" + occurrences + ") on the screen:\n" + screen());
    }

    private static int count(String s, String sub) {
        int n = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + 1)) {
            n++;
        }
        return n;
    }

    @Test
    void twoTurnsWithCtrlCAdapterSwitchAndSave() throws Exception {
        Path model = NativeTestSupport.writeTinyModel(dir, 5);
        Path code = NativeTestSupport.writeLora(dir, LoraSpec.attention("code", 4, 1));
        keys = new PipedOutputStream();
        PipedInputStream in = new PipedInputStream(keys, 1 << 16);
        Terminal terminal = new ExternalTerminal("test", "xterm", in, screen, StandardCharsets.UTF_8);
        ChatCommand.testTerminal = terminal;
        AtomicReference<CliTest.Run> result = new AtomicReference<>();
        Thread chat = new Thread(() -> result.set(CliTest.run("chat", "-m", model.toString(), "--lora", "code=" + code,
                "--temp", "0", "-n", "1500", "-c", "4096", "--history", "", "-sys", "You are terse.")));
        chat.start();
        waitFor("/help for commands", 1, chat);

        // turn 1, stopped with Ctrl-C while the reply streams (1500 tokens: seconds even on a fast idle machine,
        // so the keypress lands mid-reply on a busy one too)
        type("Hello there\r");
        waitFor("Hello there", 1, chat);
        int before = screen().length();
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (screen().length() < before + 40 && System.nanoTime() < deadline && !screen().contains("tok/s")) {
            Thread.sleep(5);
        }
        type("\u0003");
        waitFor("tok/s", 1, chat);
        assertTrue(screen().contains("stop: interrupted"), screen());

        // switch adapters between turns; the cache survives
        type("/adapters\r");
        waitFor("* code", 1, chat);
        type("/adapters none\r");
        waitFor("adapters: none", 1, chat);

        // turn 2 runs to its token limit
        type("Tell me\\\rmore\r");  // a line ending in a backslash continues
        waitFor("tok/s", 2, chat);
        String s = screen();
        Matcher m = Pattern.compile("\\[(\\d+) prompt tokens prefilled, (\\d+) reused from cache; (\\d+) tokens").matcher(s);
        assertTrue(m.find(), s);
        int firstPrompt = Integer.parseInt(m.group(1));
        int firstReply = Integer.parseInt(m.group(3));
        assertEquals(0, Integer.parseInt(m.group(2)), "nothing cached before the first turn");
        assertTrue(firstReply < 1500, "Ctrl-C stopped the first reply early: " + s);
        assertTrue(m.find(), s);
        int reused = Integer.parseInt(m.group(2));
        int prefilled = Integer.parseInt(m.group(1));
        assertEquals(firstPrompt + firstReply, reused, "the second turn reuses the whole first turn (prompt and reply)");
        assertTrue(prefilled < reused, "only the new tokens are prefilled: " + prefilled + " vs " + reused);
        assertTrue(s.contains("stop: max_tokens; adapters: none"), s);

        Path saved = dir.resolve("chat.json");
        type("/save " + saved + "\r");
        waitFor("saved 5 messages", 1, chat);
        type("\u0004");  // Ctrl-D
        chat.join(30_000);
        assertEquals(0, result.get().exit(), result.get().err());
        JsonNode json = new ObjectMapper().readTree(Files.readString(saved));
        assertEquals("system", json.get("messages").get(0).get("role").asText());
        assertEquals("Tell me\nmore", json.get("messages").get(3).get("content").asText());
        assertEquals("assistant", json.get("messages").get(4).get("role").asText());
    }
}
