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

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N",
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

    /** Shared by generate and demo: the prompt and its continuation on stdout, a summary on stderr. */
    static final class Generation {
        private Generation() {}

        static int run(PrintWriter out, PrintWriter err, ModelOptions options, SamplingOptions sampling, String prompt,
                int nPredict, List<AdapterSpec> adapters, RouterSpec router, boolean show) {
            try (Engine engine = options.open(adapters, router)) {
                RouteTrace trace = new RouteTrace(engine.adapterNames(), show && RouteTrace.terminal());
                if (show) {
                    out.println(trace.legend());
                } else {
                    out.print(prompt);
                }
                out.flush();
                GenerationRequest request = new GenerationRequest(prompt, nPredict < 0 ? Integer.MAX_VALUE : nPredict,
                        sampling.params(), show);
                GenerationResult r = engine.generate(request, new GenerationListener() {
                    @Override
                    public void prefilled(List<Piece> pieces) {
                        pieces.forEach(p -> trace.append(p.text(), p.route()));
                        out.print(trace.take());
                        out.flush();
                    }

                    @Override
                    public void token(GeneratedToken t, Route route) {
                        if (show) {
                            trace.append(t.text(), route);
                            out.print(trace.take());
                        } else {
                            out.print(t.text());
                        }
                        out.flush();
                    }
                });
                trace.end();
                out.print(trace.take());
                out.println();
                out.flush();
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
