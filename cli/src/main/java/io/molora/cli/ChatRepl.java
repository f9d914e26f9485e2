package io.molora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.engine.AdapterMix;
import io.molora.engine.ChatSession;
import io.molora.engine.ChatTurn;
import io.molora.engine.OutputFile;
import io.molora.runtime.ChatTemplate;
import io.molora.runtime.StopReason;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.reader.Widget;
import org.jline.reader.impl.LineReaderImpl;
import org.jline.reader.impl.DefaultParser;
import org.jline.terminal.Terminal;

/**
 * The chat's terminal side (JLine): reads lines (a trailing backslash continues), streams each reply with a status
 * line, stops a reply on Ctrl-C, and runs the slash commands on the {@link ChatSession}.
 */
final class ChatRepl {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Terminal terminal;
    private final PrintWriter out;
    private final ChatSession session;
    /**
     * /save's output under {@link OutputFile}'s rule: never an input of the chat, a directory or a missing folder; a
     * device or pipe takes the JSON as it is. An existing regular file is replaced whatever it holds (as /save did
     * before the rule; docs/RELIABILITY.md, "Files molora writes").
     */
    static final OutputFile.Kind CONVERSATION = new OutputFile.Kind() {
        @Override
        public String description() {
            return "a saved conversation";
        }

        /** A JSON object with a "messages" array, as {@link #transcript} writes it. */
        @Override
        public Optional<String> whyNot(Path file) throws IOException {
            JsonNode saved;
            try {
                saved = JSON.readTree(Files.readAllBytes(file));
            } catch (com.fasterxml.jackson.core.JacksonException e) {
                return Optional.of("is not a saved conversation (not JSON)");
            }
            return saved != null && saved.isObject() && saved.path("messages").isArray() ? Optional.empty()
                    : Optional.of("is not a saved conversation (no \"messages\")");
        }
    };

    private final Path modelFile;
    /** The files the chat reads (model, adapters, router, history): /save refuses them. */
    private final List<Path> inputs;
    private volatile boolean interrupted;
    private boolean showRoutes;

    ChatRepl(Terminal terminal, ChatSession session, Path modelFile, List<Path> inputs, boolean showRoutes) {
        this.terminal = terminal;
        this.out = terminal.writer();
        this.session = session;
        this.modelFile = modelFile;
        this.inputs = List.copyOf(inputs);
        this.showRoutes = showRoutes;
    }

    /** Reads and answers lines until Ctrl-D or /exit; {@code historyFile} empty or null: no history. */
    void run(String historyFile) {
        // plain text, not a shell line: no quotes, escapes or !-expansion (a trailing backslash is ours to handle)
        DefaultParser parser = new DefaultParser();
        parser.setEscapeChars(new char[0]);
        parser.setQuoteChars(new char[0]);
        LineReaderBuilder b = LineReaderBuilder.builder().terminal(terminal).appName("molora").parser(parser)
                .option(LineReader.Option.DISABLE_EVENT_EXPANSION, true);
        if (historyFile != null && !historyFile.isBlank()) {
            b.variable(LineReader.HISTORY_FILE, Path.of(historyFile));
        }
        LineReader reader = b.build();
        notePastes(reader);
        ChatTemplate template = session.template();
        out.println("molora chat: " + modelFile.getFileName() + ", template "
                + (template.fromModel() ? "from the model" : template.template())
                + (session.adapterNames().isEmpty() ? "" : ", adapters " + String.join(", ", session.adapterNames()))
                + ". /help for commands, Ctrl-C stops a reply, Ctrl-D exits.");
        out.flush();
        while (true) {
            String input;
            try {
                input = readInput(reader);
            } catch (UserInterruptException e) {
                out.println("(Ctrl-D or /exit to quit)");
                out.flush();
                continue;
            } catch (EndOfFileException e) {
                out.println();
                out.flush();
                return;
            }
            String text = input.strip();
            if (text.isEmpty()) {
                continue;
            }
            if (text.startsWith("/")) {
                if (!command(text)) {
                    return;
                }
                continue;
            }
            turn(input);
        }
    }

    /**
     * A message: a line, several joined when each but the last ends with a backslash, or a paste. A terminal without
     * bracketed paste hands a paste over as typed lines, each ending in Enter: an Enter followed by input already
     * waiting (nobody types the next key within {@link #PASTE_GAP_MS}) takes the rest of the paste into the same
     * message, so a pasted page is one turn instead of a turn per line, and it is read at once rather than drawn key
     * by key. Input that is not a terminal (a script piped in) is read a line a turn, as before.
     */
    private String readInput(LineReader reader) {
        StringBuilder sb = new StringBuilder();
        String prompt = "> ";
        while (true) {
            pasted = null;
            String line = reader.readLine(prompt);
            if (pasted != null) {
                String rest = pasted.toString().stripTrailing();
                out.println("[" + rest.chars().filter(c -> c == '\n').count() + " more pasted lines, "
                        + rest.length() + " characters]");
                out.flush();
                String head = line.endsWith("\\") ? line.substring(0, line.length() - 1) : line;
                return sb.append(head).append(rest).toString();
            }
            if (line.endsWith("\\")) {
                sb.append(line, 0, line.length() - 1).append('\n');
                prompt = ". ";
            } else {
                return sb.append(line).toString();
            }
        }
    }

    /**
     * How soon after an Enter the next input must come to belong to a paste, in milliseconds. JLine waits on a
     * terminal in tenths of a second (termios VTIME), and only while it reads a line (the terminal is raw then).
     */
    static final long PASTE_GAP_MS = 100;

    /** The rest of a paste, taken in by the Enter key that found it waiting (from its newline on); else null. */
    private StringBuilder pasted;

    /** Enter as JLine's own, but one followed by input already waiting first reads that input in whole. */
    private void notePastes(LineReader reader) {
        if (terminal.getType().startsWith(Terminal.TYPE_DUMB) || !(reader instanceof LineReaderImpl impl)) {
            return;
        }
        Widget accept = reader.getWidgets().get(LineReader.ACCEPT_LINE);
        reader.getWidgets().put(LineReader.ACCEPT_LINE, () -> {
            if (impl.peekCharacter(PASTE_GAP_MS) >= 0) {
                StringBuilder rest = new StringBuilder("\n");
                while (impl.peekCharacter(PASTE_GAP_MS) >= 0) {
                    int c = impl.readCharacter();
                    rest.appendCodePoint(c == '\r' ? '\n' : c);
                }
                pasted = rest;
            }
            return accept.apply();
        });
    }

    /** One turn, streamed; Ctrl-C stops the reply. Then the status line. */
    private void turn(String userText) {
        interrupted = false;
        Terminal.SignalHandler previous = terminal.handle(Terminal.Signal.INT, s -> interrupted = true);
        ChatTurn result;
        try {
            result = session.send(userText, t -> {
                out.print(t.text());
                out.flush();
            }, () -> interrupted);
        } finally {
            terminal.handle(Terminal.Signal.INT, previous);
        }
        switch (result) {
            case ChatTurn.TooLong l -> out.println("[the conversation ("
                    + (l.tokens() < 0 ? "far more than that" : l.tokens() + " tokens") + ") does not fit in the "
                    + "context of " + l.contextSize() + " tokens; the message was not kept: /reset to start over, "
                    + "or use a larger -c]");
            case ChatTurn.Reply r -> out.println(status(r));
        }
        out.flush();
    }

    private String status(ChatTurn.Reply r) {
        StringBuilder status = new StringBuilder();
        status.append("\n[").append(r.prefilled()).append(" prompt tokens prefilled, ").append(r.reused())
                .append(" reused from cache; ").append(r.tokens()).append(" tokens, ")
                .append(String.format("%.1f tok/s", r.tokensPerSecond())).append("; stop: ")
                .append(r.stopReason() == StopReason.CANCELLED ? "interrupted" : r.stopReason().name().toLowerCase());
        if (!session.adapterNames().isEmpty()) {
            status.append("; adapters: ").append(session.routedPerToken() ? "routed (--router/--routes)"
                    : session.mix().isEmpty() ? "none" : String.join("+", session.mix().names()));
        }
        if (showRoutes && !r.routes().isEmpty()) {
            status.append("; routes: ").append(String.join(" ",
                    r.routes().entrySet().stream().map(e -> e.getKey() + "×" + e.getValue()).toList()));
        }
        return status.append("]").toString();
    }

    /** Runs a slash command; false to leave the chat. */
    private boolean command(String text) {
        String[] parts = text.split("\\s+", 2);
        String arg = parts.length > 1 ? parts[1].strip() : "";
        switch (parts[0]) {
            case "/help" -> out.println(String.join("\n",
                    "/adapters                 list the adapters (* = active)",
                    "/adapters NAME[,NAME]|none switch adapters for the next replies (the cache is kept)",
                    "/adapters routes          back to per-token routing (with --router or --routes)",
                    "/routes on|off            show per-token routes in the status line",
                    "/system [TEXT]            show or set the system prompt",
                    "/reset                    forget the conversation (keeps the system prompt)",
                    "/save FILE                save the conversation as JSON (/save! replaces any other file)",
                    "/exit                     leave (or Ctrl-D)"));
            case "/adapters" -> adapters(arg);
            case "/routes" -> {
                if (arg.equals("on") || arg.equals("off")) {
                    showRoutes = arg.equals("on");
                    out.println("routes " + arg);
                } else {
                    out.println("usage: /routes on|off");
                }
            }
            case "/system" -> {
                if (arg.isEmpty()) {
                    out.println(session.systemPrompt().orElse("(no system prompt)"));
                } else {
                    session.systemPrompt(arg);
                    out.println("system prompt set");
                }
            }
            case "/reset" -> {
                session.reset();
                out.println("conversation reset");
            }
            case "/save", "/save!" -> {
                if (arg.isEmpty()) {
                    out.println("usage: /save FILE (/save! FILE replaces a file that is not a saved conversation)");
                } else {
                    out.println(save(arg, parts[0].equals("/save!")));
                }
            }
            case "/exit", "/quit" -> {
                return false;
            }
            default -> out.println("unknown command " + parts[0] + " (/help lists them)");
        }
        out.flush();
        return true;
    }

    private void adapters(String arg) {
        if (session.adapterNames().isEmpty()) {
            out.println("no adapters loaded (start with --lora NAME=PATH)");
        } else if (arg.isEmpty()) {
            for (String n : session.adapterNames()) {
                out.println((session.mix().names().contains(n) && !session.routedPerToken() ? "* " : "  ") + n);
            }
        } else if (arg.equals("routes")) {
            out.println(session.useTokenRouter() ? "adapters: routed per token"
                    : "no token router loaded (start with --router FILE or --routes FILE)");
        } else {
            try {
                session.useAdapters(AdapterMix.parse(arg, session.adapterNames()));
                out.println("adapters: " + (session.mix().isEmpty() ? "none" : String.join("+", session.mix().names())));
            } catch (IllegalArgumentException e) {
                out.println(e.getMessage());
            }
        }
    }

    /** Saves the conversation as JSON; says what happened in one line, and a failure leaves the chat as it was. */
    private String save(String name, boolean force) {
        String fail = "cannot save to " + name + ": ";
        String kept = " (the conversation is kept; /save to another file)";
        try {
            OutputFile.Target target = OutputFile.check(Path.of(name), CONVERSATION, inputs, force);
            byte[] bytes = transcript();
            target.write(file -> Files.write(file, bytes));
            return "saved " + session.messages().size() + " messages to " + name;
        } catch (InvalidPathException e) {
            return fail + e.getReason() + kept;
        } catch (OutputFile.Refused e) {
            return fail + e.reason() + kept;
        } catch (OutputFile.WriteFailed e) {
            return fail + e.reason() + kept;
        } catch (IOException e) {
            return fail + IoErrors.reason(e) + kept;
        }
    }

    private byte[] transcript() throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("model", modelFile.toString());
        root.put("template", session.template().fromModel() ? "model" : session.template().template());
        ArrayNode ms = root.putArray("messages");
        for (ChatTemplate.Message msg : session.messages()) {
            ms.addObject().put("role", msg.role()).put("content", msg.content());
        }
        return (JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8);
    }
}
