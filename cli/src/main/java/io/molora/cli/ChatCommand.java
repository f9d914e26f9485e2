package io.molora.cli;

import io.molora.engine.RouterSpec;
import io.molora.engine.Engine;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.adapters.AdapterSet;
import io.molora.adapters.routers.MixedRouter;
import io.molora.adapters.routers.SlotRouter;
import io.molora.runtime.Backend;
import io.molora.runtime.ChatTemplate;
import io.molora.runtime.Context;
import io.molora.runtime.Decoder;
import io.molora.runtime.GeneratedToken;
import io.molora.runtime.Generator;
import io.molora.runtime.Model;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.Sampler;
import io.molora.runtime.StopReason;
import io.molora.runtime.TokenStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.reader.impl.DefaultParser;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Interactive chat (llama.cpp's llama-cli conversation mode) over a JLine REPL. The KV cache holds the conversation:
 * each turn formats the whole chat with the model's template, keeps the cached tokens it shares with it, and prefills
 * only the rest — also after switching adapters, which only changes the routes of the tokens still to come.
 */
@Command(name = "chat", mixinStandardHelpOptions = true, defaultValueProvider = ConfigDefaults.class,
        description = {"Chat with a GGUF model in the terminal (the model's chat template, streamed replies).",
                "",
                "Enter sends; a line ending in \\ continues on the next line. Ctrl-C stops the reply being generated,"
                        + " Ctrl-D exits. Type /help for the slash commands."})
final class ChatCommand implements Callable<Integer> {
    /** Tests set a terminal of their own (JLine's external terminal over pipes). */
    static volatile Terminal testTerminal;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Mixin
    SamplingOptions sampling;

    @Mixin
    AdapterOptions adapterOptions;

    @Option(names = {"-sys", "--system-prompt"}, paramLabel = "TEXT", description = "System prompt.")
    String systemPrompt;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", defaultValue = "-1",
            description = "Most tokens per reply, -1 = until the model ends its turn (default: ${DEFAULT-VALUE}).")
    int nPredict;

    @Option(names = "--chat-template", paramLabel = "NAME",
            description = "A built-in template (chatml, llama3, ...) instead of the model's own.")
    String chatTemplate;

    @Option(names = "--adapter", paramLabel = "NAME[,NAME...]",
            description = "Adapters active at the start (default: every --lora; 'none' = base model).")
    String initialAdapters;

    @Option(names = "--history", paramLabel = "FILE", defaultValue = "${sys:user.home}/.molora_history",
            description = "Input history file (default: ${DEFAULT-VALUE}; empty = none).")
    String historyFile;

    private final List<ChatTemplate.Message> messages = new ArrayList<>();
    private int[] cache = new int[0];
    /** The formatted text the cached tokens stand for (null: unknown, match by tokens). */
    private String cacheText;
    private volatile boolean interrupted;
    private boolean showRoutes;
    private List<String> adapterNames = List.of();
    private Map<String, Float> mix = new LinkedHashMap<>();
    private SlotRouter router;
    /** With --routes: per-token routing unless the user picked adapters with /adapters. */
    private MixedRouter mixed;
    private RoutedDecoder routed;
    private final Map<String, Integer> routeCounts = new LinkedHashMap<>();

    @Override
    public Integer call() throws IOException {
        if (model.model == null) {
            throw new ParameterException(spec.commandLine(), "Missing required option: '--model=FILE'");
        }
        if (nPredict < -1) {
            throw new ParameterException(spec.commandLine(), "-n must be -1 or >= 0, got " + nPredict);
        }
        adapterOptions.specs(spec.commandLine());
        adapterOptions.checkRouters();
        showRoutes = adapterOptions.showRoutes;
        if (model.verbose) {
            Backend.setLogLevel(Level.INFO);
        }
        Terminal terminal = testTerminal != null ? testTerminal : TerminalBuilder.builder().system(true).build();
        try (Engine engine = model.open(adapterOptions.specs(spec.commandLine()), new RouterSpec.Base())) {
            Model m = engine.model();
            AdapterSet adapters = engine.adapters().orElse(null);
            List<AutoCloseable> resources = new ArrayList<>();
            try (Context ctx = Context.create(m, model.contextParams());
                 Sampler sampler = new Sampler(sampling.params())) {
                ChatTemplate template = chatTemplate != null ? ChatTemplate.named(chatTemplate) : ChatTemplate.of(m);
                RoutedDecoder routed = null;
                if (adapters != null) {
                    adapterNames = adapters.names();
                    router = new SlotRouter(1, adapterNames.size());
                    Router tokenRouter = adapterOptions.tokenRouter(m, adapters, resources);
                    if (tokenRouter != null) {
                        mixed = new MixedRouter(tokenRouter, router, 1);
                        mixed.start(0, initialAdapters != null);
                    }
                    mix = parseMix(initialAdapters == null ? String.join(",", adapterNames) : initialAdapters);
                    applyMix();
                    routed = adapters.decoder(ctx, mixed != null ? mixed : router);
                    this.routed = routed;
                }
                if (systemPrompt != null) {
                    messages.add(new ChatTemplate.Message("system", systemPrompt));
                }
                try (Generator generator = new Generator(ctx, sampler, 0, routed != null ? routed : Decoder.plain(ctx))) {
                    repl(terminal, m, ctx, sampler, generator, template);
                } finally {
                    if (routed != null) {
                        routed.close();
                    }
                }
            } finally {
                for (AutoCloseable r : resources) {
                    try {
                        r.close();
                    } catch (Exception e) {
                        // closing a read-only mapping; nothing to report
                    }
                }
            }
        } finally {
            if (testTerminal == null) {
                terminal.close();
            }
        }
        return 0;
    }

    private void repl(Terminal terminal, Model m, Context ctx, Sampler sampler, Generator generator,
            ChatTemplate template) {
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
        PrintWriter out = terminal.writer();
        out.println("molora chat: " + m.path().getFileName() + ", template "
                + (template.fromModel() ? "from the model" : template.template())
                + (adapterNames.isEmpty() ? "" : ", adapters " + String.join(", ", adapterNames))
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
                if (!command(text, out, ctx, sampler, template)) {
                    return;
                }
                continue;
            }
            turn(terminal, out, m, ctx, generator, template, input);
        }
    }

    /** A line, or several joined when each but the last ends with a backslash. */
    private static String readInput(LineReader reader) {
        StringBuilder sb = new StringBuilder();
        String prompt = "> ";
        while (true) {
            String line = reader.readLine(prompt);
            if (line.endsWith("\\")) {
                sb.append(line, 0, line.length() - 1).append('\n');
                prompt = ". ";
            } else {
                return sb.append(line).toString();
            }
        }
    }

    private void turn(Terminal terminal, PrintWriter out, Model m, Context ctx, Generator generator,
            ChatTemplate template, String userText) {
        messages.add(new ChatTemplate.Message("user", userText));
        int[] tokens;
        String promptText;
        try {
            promptText = template.apply(messages, true);
            if (cacheText != null && promptText.startsWith(cacheText)) {
                // the cache holds exactly the text so far (the reply as generated): add only the new text's tokens
                int[] delta = m.tokenizer().tokenize(promptText.substring(cacheText.length()), false, true);
                tokens = Arrays.copyOf(cache, cache.length + delta.length);
                System.arraycopy(delta, 0, tokens, cache.length, delta.length);
            } else {
                tokens = tokenize(m, promptText);
            }
        } catch (RuntimeException e) {
            messages.remove(messages.size() - 1);
            throw e;
        }
        if (tokens.length + 1 > ctx.contextSize()) {
            messages.remove(messages.size() - 1);
            out.println("[the conversation (" + tokens.length + " tokens) no longer fits in the context of "
                    + ctx.contextSize() + "; /reset to start over, or use a larger -c]");
            out.flush();
            return;
        }
        // keep the cached prefix this prompt shares, prefill the rest
        int common = 0;
        while (common < cache.length && common < tokens.length && cache[common] == tokens[common]) {
            common++;
        }
        common = Math.min(common, tokens.length - 1);
        ctx.removeTokens(0, common, -1);
        int[] fresh = Arrays.copyOfRange(tokens, common, tokens.length);
        interrupted = false;
        routeCounts.clear();
        Terminal.SignalHandler previous = terminal.handle(Terminal.Signal.INT, s -> interrupted = true);
        StringBuilder reply = new StringBuilder();
        List<Integer> generated = new ArrayList<>();
        List<String> pieces = new ArrayList<>();
        long t0 = System.nanoTime();
        long t1;
        StopReason reason;
        int decodedUpTo;
        int limit = nPredict < 0 ? Integer.MAX_VALUE : nPredict;
        try (TokenStream stream = generator.start(fresh, common, limit)) {
            t1 = System.nanoTime();
            while (stream.hasNext() && !interrupted) {
                GeneratedToken t = stream.next();
                generated.add(t.id());
                pieces.add(t.text());
                if (routed != null && stream.hasNext()) {
                    countRoutes(routed.lastRoutes());
                }
                reply.append(t.text());
                out.print(t.text());
                out.flush();
            }
            stream.close();
            reason = stream.stopReason();
            decodedUpTo = stream.nextPosition();
        } finally {
            terminal.handle(Terminal.Signal.INT, previous);
        }
        long t2 = System.nanoTime();
        // the cache now holds the prompt and the generated tokens that were decoded
        int[] now = Arrays.copyOf(tokens, decodedUpTo);
        for (int i = tokens.length; i < decodedUpTo; i++) {
            now[i] = generated.get(i - tokens.length);
        }
        cache = now;
        StringBuilder decodedText = new StringBuilder(promptText);
        for (int i = 0; i < decodedUpTo - tokens.length; i++) {
            decodedText.append(pieces.get(i));
        }
        cacheText = decodedText.toString();
        messages.add(new ChatTemplate.Message("assistant", reply.toString()));
        double secs = (t2 - t1) / 1e9;
        StringBuilder status = new StringBuilder();
        status.append("\n[").append(fresh.length).append(" prompt tokens prefilled, ").append(common)
                .append(" reused from cache; ").append(generated.size()).append(" tokens, ")
                .append(String.format("%.1f tok/s", generated.size() / Math.max(secs, 1e-9)))
                .append("; stop: ").append(reason == StopReason.CANCELLED ? "interrupted" : reason.name().toLowerCase());
        if (!adapterNames.isEmpty()) {
            status.append("; adapters: ").append(mixed != null && !mixed.usesFixed(0) ? "routed (--router/--routes)"
                    : mix.isEmpty() ? "none" : String.join("+", mix.keySet()));
        }
        if (showRoutes && !routeCounts.isEmpty()) {
            status.append("; routes: ").append(String.join(" ",
                    routeCounts.entrySet().stream().map(e -> e.getKey() + "×" + e.getValue()).toList()));
        }
        status.append("]");
        out.println(status);
        out.flush();
    }

    /** Counts the adapters of row 0 of the last single-token decode (the token just generated). */
    private void countRoutes(RouteTable r) {
        boolean any = false;
        for (int j = 0; j < r.k(); j++) {
            int a = r.adapter(0, j);
            if (a != RouteTable.NONE && r.weight(0, j) != 0f) {
                routeCounts.merge(adapterNames.get(a), 1, Integer::sum);
                any = true;
            }
        }
        if (!any) {
            routeCounts.merge("none", 1, Integer::sum);
        }
    }

    private static int[] tokenize(Model m, String text) {
        int[] tokens = m.tokenizer().tokenize(text, true, true);
        int bos = m.tokenizer().bos();
        if (tokens.length > 1 && tokens[0] == bos && tokens[1] == bos) {
            tokens = Arrays.copyOfRange(tokens, 1, tokens.length);
        }
        return tokens;
    }

    /** Runs a slash command; false to leave the chat. */
    private boolean command(String text, PrintWriter out, Context ctx, Sampler sampler, ChatTemplate template) {
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
                    "/save FILE                save the conversation as JSON",
                    "/exit                     leave (or Ctrl-D)"));
            case "/adapters" -> {
                if (adapterNames.isEmpty()) {
                    out.println("no adapters loaded (start with --lora NAME=PATH)");
                } else if (arg.isEmpty()) {
                    for (String n : adapterNames) {
                        out.println((mix.containsKey(n) && (mixed == null || mixed.usesFixed(0)) ? "* " : "  ") + n);
                    }
                } else if (arg.equals("routes")) {
                    if (mixed == null) {
                        out.println("no token router loaded (start with --router FILE or --routes FILE)");
                    } else {
                        mixed.useFixed(0, false);
                        out.println("adapters: routed per token");
                    }
                } else {
                    try {
                        mix = parseMix(arg);
                        applyMix();
                        if (mixed != null) {
                            mixed.useFixed(0, true);
                        }
                        out.println("adapters: " + (mix.isEmpty() ? "none" : String.join("+", mix.keySet())));
                    } catch (IllegalArgumentException e) {
                        out.println(e.getMessage());
                    }
                }
            }
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
                    out.println(!messages.isEmpty() && messages.get(0).role().equals("system")
                            ? messages.get(0).content() : "(no system prompt)");
                } else {
                    if (!messages.isEmpty() && messages.get(0).role().equals("system")) {
                        messages.set(0, new ChatTemplate.Message("system", arg));
                    } else {
                        messages.add(0, new ChatTemplate.Message("system", arg));
                    }
                    out.println("system prompt set");
                }
            }
            case "/reset" -> {
                ChatTemplate.Message system = !messages.isEmpty() && messages.get(0).role().equals("system")
                        ? messages.get(0) : null;
                messages.clear();
                if (system != null) {
                    messages.add(system);
                }
                ctx.removeTokens(0, 0, -1);
                cache = new int[0];
                cacheText = null;
                sampler.reset();
                out.println("conversation reset");
            }
            case "/save" -> {
                if (arg.isEmpty()) {
                    out.println("usage: /save FILE");
                } else {
                    save(Path.of(arg), template);
                    out.println("saved " + messages.size() + " messages to " + arg);
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

    private void save(Path file, ChatTemplate template) {
        ObjectNode root = JSON.createObjectNode();
        root.put("model", model.model.toString());
        root.put("template", template.fromModel() ? "model" : template.template());
        ArrayNode ms = root.putArray("messages");
        for (ChatTemplate.Message msg : messages) {
            ms.addObject().put("role", msg.role()).put("content", msg.content());
        }
        try {
            Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot save to " + file + ": " + e.getMessage(), e);
        }
    }

    private Map<String, Float> parseMix(String spec) {
        Map<String, Float> m = new LinkedHashMap<>();
        for (String n : spec.split(",")) {
            String name = n.strip();
            if (name.isEmpty() || name.equals("none") || name.equals("base")) {
                continue;
            }
            if (!adapterNames.contains(name)) {
                throw new IllegalArgumentException("no adapter named '" + name + "' (loaded: "
                        + String.join(", ", adapterNames) + ")");
            }
            m.put(name, 1f);
        }
        return m;
    }

    private void applyMix() {
        int[] ids = new int[mix.size()];
        float[] w = new float[mix.size()];
        int i = 0;
        for (Map.Entry<String, Float> e : mix.entrySet()) {
            ids[i] = adapterNames.indexOf(e.getKey());
            w[i++] = e.getValue();
        }
        router.set(0, ids, w);
    }
}
