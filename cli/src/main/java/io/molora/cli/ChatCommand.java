package io.molora.cli;

import io.molora.engine.ChatSession;
import io.molora.engine.ChatSettings;
import io.molora.engine.Engine;
import io.molora.engine.RouterSpec;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Interactive chat (llama.cpp's llama-cli conversation mode): the options, an engine {@link ChatSession} (the KV cache
 * holds the conversation, so each turn prefills only what is new, also after switching adapters) and a {@link ChatRepl}
 * in the terminal.
 */
@Command(name = "chat", mixinStandardHelpOptions = true, defaultValueProvider = ConfigDefaults.class,
        description = {"Chat with a GGUF model in the terminal (the model's chat template, streamed replies).",
                "",
                "Enter sends; a line ending in \\ continues on the next line. Ctrl-C stops the reply being generated,"
                        + " Ctrl-D exits. Type /help for the slash commands."})
final class ChatCommand implements Callable<Integer> {
    /** Tests set a terminal of their own (JLine's external terminal over pipes). */
    static volatile Terminal testTerminal;

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

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", defaultValue = "-1", converter = OptionRanges.TokenLimit.class,
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

    @Override
    public Integer call() throws IOException {
        CommandLine cmd = spec.commandLine();
        model.require(cmd);
        if (nPredict < -1) {
            throw new ParameterException(cmd, "-n must be -1 or >= 0, got " + nPredict);
        }
        RouterSpec router = adapterOptions.tokenRouter(cmd).orElse(new RouterSpec.Base());
        Terminal terminal = testTerminal != null ? testTerminal : TerminalBuilder.builder().system(true).build();
        try (Engine engine = model.open(adapterOptions.specs(cmd), router)) {
            ChatSettings settings = ChatSettings.defaults().withSampling(sampling.params())
                    .withMaxTokens(nPredict < 0 ? Integer.MAX_VALUE : nPredict);
            if (chatTemplate != null) {
                settings = settings.withTemplate(chatTemplate);
            }
            if (systemPrompt != null) {
                settings = settings.withSystemPrompt(systemPrompt);
            }
            if (initialAdapters != null && !engine.adapterNames().isEmpty()) {
                settings = settings.withAdapters(AdapterOptions.mix(initialAdapters, engine.adapterNames(), cmd));
            }
            try (ChatSession session = engine.chat(settings)) {
                List<Path> inputs = new ArrayList<>(List.of(model.model));
                adapterOptions.specs(cmd).forEach(a -> inputs.add(a.path()));
                Stream.of(adapterOptions.router, adapterOptions.routes).filter(Objects::nonNull).forEach(inputs::add);
                if (historyFile != null && !historyFile.isBlank()) {
                    inputs.add(Path.of(historyFile));
                }
                new ChatRepl(terminal, session, model.model, inputs, adapterOptions.showRoutes).run(historyFile);
            }
        } finally {
            if (testTerminal == null) {
                terminal.close();
            }
        }
        return 0;
    }
}
