package io.molora.cli;

import io.molora.adapters.AdapterSpec;
import io.molora.engine.Engine;
import io.molora.engine.GenerationListener;
import io.molora.engine.GenerationRequest;
import io.molora.engine.Route;
import io.molora.engine.RouterSpec;
import io.molora.runtime.GeneratedToken;
import io.molora.runtime.GenerationResult;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Generates text for one prompt, streaming it to stdout (llama.cpp's llama-simple / llama-cli -no-cnv). With adapters:
 * {@code --routes vocab.json} routes each token by the vocabulary router, {@code --router FILE} by a learned gate from
 * train-router, and without either every adapter serves every token (as llama.cpp's {@code --lora} does);
 * {@code --show-routes} prints the prompt and output coloured by route, a legend on top and the per-adapter token
 * counts on stderr.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text for a prompt with a GGUF model, streaming it to stdout.")
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Mixin
    SamplingOptions sampling;

    @Mixin
    AdapterOptions adapters;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "The prompt.", required = true)
    String prompt;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", converter = OptionRanges.TokenLimit.class,
            description = "Tokens to generate, -1 = until end of text or a full context (default: ${DEFAULT-VALUE}).",
            defaultValue = "128")
    int nPredict;

    @Override
    public Integer call() {
        CommandLine cmd = spec.commandLine();
        model.require(cmd);
        if (nPredict < -1) {
            throw new ParameterException(cmd, "-n must be -1 or >= 0, got " + nPredict);
        }
        List<AdapterSpec> specs = adapters.specs(cmd);
        RouterSpec router = adapters.tokenRouter(cmd)
                .orElse(specs.isEmpty() ? new RouterSpec.Base() : new RouterSpec.AllAdapters());
        return Generation.run(cmd.getOut(), cmd.getErr(), model, sampling, prompt, nPredict, specs, router,
                adapters.showRoutes);
    }

    /**
     * Exit code when whoever reads stdout has gone ({@code | head -c 20}): what the shell reports for a program that
     * SIGPIPE ended (128 + 13), as for llama.cpp's own programs, {@code cat} or {@code yes}; the JVM ignores SIGPIPE,
     * so molora stops generating and exits with it, saying nothing.
     */
    static final int STDOUT_CLOSED = 141;

    /** Shared by generate and demo: the prompt and its continuation on stdout, a summary on stderr. */
    static final class Generation {
        private Generation() {}

        /**
         * The prompt is echoed once the engine has taken it (a prompt too long for the context is refused before
         * anything reaches stdout); generation stops at the first token stdout cannot take.
         */
        static int run(PrintWriter out, PrintWriter err, ModelOptions options, SamplingOptions sampling, String prompt,
                int nPredict, List<AdapterSpec> adapters, RouterSpec router, boolean show) {
            try (Engine engine = options.open(adapters, router)) {
                RouteTrace trace = new RouteTrace(engine.adapterNames(), show && RouteTrace.terminal());
                GenerationRequest request = new GenerationRequest(prompt, nPredict < 0 ? Integer.MAX_VALUE : nPredict,
                        sampling.params(), show);
                boolean[] closed = {false};
                GenerationResult r = engine.generate(request, new GenerationListener() {
                    @Override
                    public void prefilled(List<Piece> pieces) {
                        if (show) {
                            out.println(trace.legend());
                            pieces.forEach(p -> trace.append(p.text(), p.route()));
                            out.print(trace.take());
                        } else {
                            out.print(prompt);
                        }
                        closed[0] |= out.checkError();  // flushes
                    }

                    @Override
                    public void token(GeneratedToken t, Route route) {
                        if (show) {
                            trace.append(t.text(), route);
                            out.print(trace.take());
                        } else {
                            out.print(t.text());
                        }
                        closed[0] |= out.checkError();
                    }

                    @Override
                    public boolean stop() {
                        return closed[0];
                    }
                });
                trace.end();
                out.print(trace.take());
                out.println();
                if (closed[0] || out.checkError()) {
                    return STDOUT_CLOSED;
                }
                err.printf("molora: %d prompt tokens in %.2f s, %d generated in %.2f s (%.1f tok/s), stop: %s%n",
                        r.promptTokens(), r.promptSeconds(), r.tokens().length, r.generationSeconds(),
                        r.tokensPerSecond(), r.stopReason().name().toLowerCase());
                if (show) {
                    err.println("molora: tokens per route: " + trace.countsLine());
                }
                err.flush();
            }
            return 0;
        }
    }
}
