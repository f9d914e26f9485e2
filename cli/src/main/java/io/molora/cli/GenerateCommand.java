package io.molora.cli;

import io.molora.runtime.Backend;
import io.molora.runtime.Context;
import io.molora.runtime.GenerationResult;
import io.molora.runtime.Generator;
import io.molora.runtime.Model;
import io.molora.runtime.Sampler;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Generates text for one prompt, streaming it to stdout (llama.cpp's llama-simple / llama-cli -no-cnv). */
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
        if (model.model == null) {
            throw new ParameterException(spec.commandLine(), "Missing required option: '--model=FILE'");
        }
        if (nPredict < -1) {
            throw new ParameterException(spec.commandLine(), "-n must be -1 or >= 0, got " + nPredict);
        }
        return Generation.run(spec.commandLine().getOut(), spec.commandLine().getErr(), model, sampling, prompt,
                nPredict, adapters, spec.commandLine());
    }

    /** Shared by generate and demo. */
    static final class Generation {
        private Generation() {}

        static int run(PrintWriter out, PrintWriter err, ModelOptions options, SamplingOptions sampling, String prompt,
                int nPredict) {
            return run(out, err, options, sampling, prompt, nPredict, null, null);
        }

        /** With adapters: routed by --routes (or all adapters on every token), traced with --show-routes. */
        static int run(PrintWriter out, PrintWriter err, ModelOptions options, SamplingOptions sampling, String prompt,
                int nPredict, AdapterOptions adapterOptions, CommandLine cmd) {
            if (options.verbose) {
                Backend.setLogLevel(Level.INFO);
            }
            if (adapterOptions != null && (adapterOptions.showRoutes || adapterOptions.routes != null
                    || adapterOptions.router != null || !adapterOptions.specs(cmd).isEmpty())) {
                return RoutedGeneration.run(out, err, options, sampling, prompt, nPredict, adapterOptions, cmd);
            }
            try (Model m = ModelFiles.load(options, java.util.List.of())) {
                int[] tokens = m.tokenizer().tokenize(prompt, true, true);
                int limit = nPredict < 0 ? Integer.MAX_VALUE : nPredict;
                try (Context ctx = Context.create(m, options.contextParams());
                     Sampler sampler = new Sampler(sampling.params());
                     Generator generator = new Generator(ctx, sampler)) {
                    out.print(prompt);
                    out.flush();
                    GenerationResult r = generator.generate(tokens, limit, t -> {
                        out.print(t.text());
                        out.flush();
                    });
                    out.println();
                    out.flush();
                    err.printf("molora: %d prompt tokens in %.2f s, %d generated in %.2f s (%.1f tok/s), stop: %s%n",
                            r.promptTokens(), r.promptSeconds(), r.tokens().length, r.generationSeconds(),
                            r.tokensPerSecond(), r.stopReason().name().toLowerCase());
                    err.flush();
                }
            }
            return 0;
        }
    }
}
