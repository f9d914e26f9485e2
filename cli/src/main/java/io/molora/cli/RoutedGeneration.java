package io.molora.cli;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.gate.HiddenStates;
import io.molora.adapters.gate.RouterTraining;
import io.molora.adapters.routers.FixedMixRouter;
import io.molora.adapters.routers.SoftTopK;
import io.molora.adapters.vocab.VocabRouter;
import io.molora.runtime.Context;
import io.molora.runtime.Decoder;
import io.molora.runtime.GenerationResult;
import io.molora.runtime.Generator;
import io.molora.runtime.Model;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Router;
import io.molora.runtime.Sampler;
import io.molora.runtime.TextDecoder;
import io.molora.runtime.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.List;
import picocli.CommandLine;

/**
 * {@code generate} with adapters: {@code --lora}/{@code --lora-scaled} load them, {@code --routes vocab.json} routes
 * each token by the vocabulary router (without it every adapter serves every token, as llama.cpp's {@code --lora}
 * does; {@code --router FILE} routes by a learned gate from train-router), and {@code --show-routes} prints the prompt and output coloured by route, with a legend on top and the
 * per-adapter token counts on stderr.
 */
final class RoutedGeneration {
    private RoutedGeneration() {}

    /** The router for these options, or null for plain decoding (no adapters). */
    static Router router(AdapterOptions options, Model model, AdapterSet set, CommandLine cmd) {
        if (options.router != null && options.routes != null) {
            throw new CommandLine.ParameterException(cmd, "give --routes (vocabulary) or --router (learned), not both");
        }
        if (options.router != null && set == null) {
            throw new CommandLine.ParameterException(cmd, "--router needs the adapters it was trained for (--lora)");
        }
        if (options.routes != null) {
            if (set == null) {
                throw new CommandLine.ParameterException(cmd, "--routes needs adapters to route to (--lora NAME=PATH)");
            }
            try {
                return VocabRouter.load(options.routes, model.tokenizer(), set.names());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read routes file " + options.routes + ": " + e.getMessage(), e);
            }
        }
        if (set == null || options.router != null) {
            return null;
        }
        int[] ids = new int[set.size()];
        float[] weights = new float[set.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i;
            weights[i] = 1f;
        }
        return new FixedMixRouter(ids, weights);
    }

    static int run(PrintWriter out, PrintWriter err, ModelOptions options, SamplingOptions sampling, String prompt,
            int nPredict, AdapterOptions adapterOptions, CommandLine cmd) {
        try (Model m = ModelFiles.load(options, adapterOptions.specs(cmd));  // command-line errors before any loading
             AdapterSet set = adapterOptions.load(m, cmd)) {
            Router chosen = router(adapterOptions, m, set, cmd);
            try (RouterCorpus.Learned learned = adapterOptions.router == null ? null
                    : RouterCorpus.load(adapterOptions.router, m, set.specs(), new SoftTopK(1, 1f, 0f))) {
                Router router = learned != null ? learned.router() : chosen;
                Tokenizer tok = m.tokenizer();
                int[] tokens = tok.tokenize(prompt, true, true);
                int limit = nPredict < 0 ? Integer.MAX_VALUE : nPredict;
                boolean show = adapterOptions.showRoutes;
                RouteTrace trace = new RouteTrace(set == null ? List.of() : set.names(), show && RouteTrace.terminal());
                RouterCorpus.HiddenSource hidden = learned == null ? null : learned.hidden();
                try (Context ctx = Context.create(m, hidden == null ? options.contextParams()
                        : options.contextParams().withEmbeddings(true));
                     Sampler sampler = new Sampler(sampling.params());
                     RoutedDecoder routed = router == null ? null : set.decoder(ctx, router)) {
                    RouteTrace.Recorder recorder = routed == null ? null : new RouteTrace.Recorder(routed);
                    Decoder decoder = routed == null ? Decoder.plain(ctx) : show ? recorder : routed;
                    if (hidden != null) {
                        // the prompt's states from a base pass (2N work); generated tokens' from the decode loop
                        float[][] promptStates = RouterTraining.hiddenStates(m, List.of(tokens))[0];
                        HiddenStates.Tracker tracker = HiddenStates.tracking(ctx, decoder);
                        hidden.source = (s, p) -> p < promptStates.length ? promptStates[p] : tracker.at(s, p);
                        decoder = tracker;
                    }
                    try (Generator generator = new Generator(ctx, sampler, 0, decoder)) {
                        if (show) {
                            out.println(trace.legend());
                        } else {
                            out.print(prompt);
                        }
                        out.flush();
                        boolean[] promptShown = {!show};
                        Runnable showPrompt = () -> {
                            if (!promptShown[0]) {
                                promptShown[0] = true;
                                tracePrompt(trace, tok, tokens, prompt, recorder);
                                out.print(trace.take());
                                out.flush();
                            }
                        };
                        GenerationResult r = generator.generate(tokens, limit, t -> {
                            if (show) {
                                showPrompt.run();
                                RouteTrace.Route route = recorder == null ? RouteTrace.BASE
                                        : recorder.route(0, t.position());
                                if (!route.known()) {  // the last token is sampled but never decoded
                                    route = recorder.routeUndecoded(t.id(), t.position(), 0);
                                }
                                trace.append(t.text(), route);
                                out.print(trace.take());
                            } else {
                                out.print(t.text());
                            }
                            out.flush();
                        });
                        showPrompt.run();
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
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
        return 0;
    }

    /** The prompt's pieces with the routes they were decoded with (SPM's leading space dropped, as in the prompt). */
    private static void tracePrompt(RouteTrace trace, Tokenizer tok, int[] tokens, String prompt,
            RouteTrace.Recorder recorder) {
        TextDecoder text = new TextDecoder();
        boolean first = true;
        for (int i = 0; i < tokens.length; i++) {
            String piece = text.push(tok.pieceBytes(tokens[i], false));
            if (i == tokens.length - 1) {
                piece += text.finish();
            }
            if (first && !piece.isEmpty()) {
                first = false;
                if (piece.startsWith(" ") && !prompt.startsWith(" ")) {
                    piece = piece.substring(1);
                }
            }
            trace.append(piece, recorder == null ? RouteTrace.BASE : recorder.route(0, i));
        }
    }
}
