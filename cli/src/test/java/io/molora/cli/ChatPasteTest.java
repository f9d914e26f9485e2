package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
import org.jline.terminal.impl.ExternalTerminal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 26, #14: a paste into {@code molora chat} on a terminal without bracketed paste arrives as typed lines, each
 * with its Enter. It was a turn per line (a 100 KB paste: ten minutes of replies); now the lines that were already
 * waiting are one message, read at once, and one far beyond the context is refused without being tokenized.
 */
class ChatPasteTest {
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
        while (System.nanoTime() < deadline && chat.isAlive()) {
            if (screen().split(java.util.regex.Pattern.quote(text), -1).length - 1 >= occurrences) {
                return;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("'" + text + "' x" + occurrences + " not seen:\n" + screen());
    }

    @Test
    void aPasteIsOneMessageAndOneFarTooLongIsRefusedAtOnce() throws Exception {
        Path model = NativeTestSupport.writeTinyModel(dir, 5);
        keys = new PipedOutputStream();
        ChatCommand.testTerminal = new ExternalTerminal("test", "xterm", new PipedInputStream(keys, 1 << 20), screen,
                StandardCharsets.UTF_8);
        AtomicReference<CliTest.Run> result = new AtomicReference<>();
        Thread chat = new Thread(() -> result.set(CliTest.run("chat", "-m", model.toString(), "--temp", "0", "-n", "3",
                "-c", "512", "--history", "", "--chat-template", "chatml")));
        chat.start();
        waitFor("/help for commands", 1, chat);

        // three lines in one write, as a terminal hands over a paste: one turn, not three
        type("first line\rsecond line\rthird line\r");
        waitFor("tok/s", 1, chat);
        assertTrue(screen().contains("[2 more pasted lines, "), screen());
        // a paste of 2 000 lines, 60 000 characters, against a context of 512 tokens: refused, not 2 000 turns
        type(("word word word word word word word word word wor\r").repeat(1200) + "x\r");
        waitFor("does not fit in the context of 512 tokens", 1, chat);
        assertTrue(screen().contains("[1200 more pasted lines, "), screen());
        // and the chat goes on: a typed line is its own turn
        Thread.sleep(300);
        type("last\r");
        waitFor("tok/s", 2, chat);
        Path saved = dir.resolve("chat.json");
        type("/save " + saved + "\r");
        waitFor("saved 4 messages", 1, chat);
        type("\u0004");
        chat.join(30_000);
        assertEquals(0, result.get().exit(), result.get().err());
        assertEquals(2, screen().split("tok/s", -1).length - 1, "two turns in all: " + screen());
        JsonNode messages = new ObjectMapper().readTree(Files.readString(saved)).get("messages");
        assertEquals("first line\nsecond line\nthird line", messages.get(0).get("content").asText());
        assertEquals("last", messages.get(2).get("content").asText());
        assertFalse(screen().contains("word word word word word word word word word wor\r\n. "),
                "the paste is not drawn line by line");
    }
}
