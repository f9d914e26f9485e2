package io.molora.engine;

import io.molora.adapters.AdapterSet;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.GenerationResult;
import io.molora.runtime.Generator;
import io.molora.runtime.Model;
import io.molora.runtime.Router;
import io.molora.runtime.Sampler;
import io.molora.runtime.TextDecoder;
import io.molora.runtime.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A model, its adapters and a router, opened through one path — what every command and a server build on. Files are
 * validated (pure-Java GGUF reader) and the memory fit checked before native code loads anything; contexts get
 * embeddings where the router reads hidden states, and every decode loop is built the same way, so a router works the
 * same in a single generation, a chat and a batch.
 *
 * <p>One session at a time: the router keeps per-sequence state. Not thread-safe.
 */
public final class Engine implements AutoCloseable {
    private final EngineSpec spec;
    private final Model model;
    private final AdapterSet adapters;
    private final Routing routing;

    private Engine(EngineSpec spec, Model model, AdapterSet adapters, Routing routing) {
        this.spec = spec;
        this.model = model;
        this.adapters = adapters;
        this.routing = routing;
    }

    /**
     * Converts the adapters given as PEFT directories into GGUF files in molora's cache ({@link PeftAdapters}; the
     * spec of the engine names those files), validates the model file, checks that model, adapters, KV cache and
     * compute buffers fit the GPU (when layers are offloaded), loads the model, validates and loads the adapters
     * against it, and builds the router. On failure nothing stays loaded.
     */
    public static Engine open(EngineSpec given) {
        EngineSpec spec = PeftAdapters.resolve(given);
        Model model = ModelFiles.load(spec);
        AdapterSet adapters = null;
        try {
            adapters = spec.adapters().isEmpty() ? null : AdapterSet.load(model, spec.adapters());
            return new Engine(spec, model, adapters,
                    Routers.create(spec.router(), model, adapters, spec.contextParams()));
        } catch (RuntimeException e) {
            if (adapters != null) {
                adapters.close();
            }
            model.close();
            throw e;
        }
    }

    public EngineSpec spec() {
        return spec;
    }

    public Model model() {
        return model;
    }

    /** The loaded adapters (route id i = {@code adapterNames().get(i)}), empty when none were given. */
    public Optional<AdapterSet> adapters() {
        return Optional.ofNullable(adapters);
    }

    public List<String> adapterNames() {
        return adapters == null ? List.of() : adapters.names();
    }

    public Routing routing() {
        return routing;
    }

    /** The spec's context settings, with embeddings on when the router reads hidden states. */
    public ContextParams contextParams() {
        ContextParams p = spec.contextParams();
        return routing.needsHiddenStates() ? p.withEmbeddings(true) : p;
    }

    /**
     * Generates for one prompt from position 0 of a fresh context, streaming tokens to {@code listener} until the
     * token limit, the end of text, a full context or {@link GenerationListener#stop()}. A prompt that does not fit
     * the context is refused before anything is decoded or reported. With a router that reads hidden states or picks
     * an adapter per request, a base pass over the prompt comes first (2N work for the prompt).
     *
     * @throws IllegalArgumentException when the prompt does not fit in the context
     */
    public GenerationResult generate(GenerationRequest request, GenerationListener listener) {
        Router router = routing.router();
        try (Context ctx = Context.create(model, contextParams());
             Sampler sampler = new Sampler(request.sampling());
             DecodePath path = decodePath(ctx, router, request.traceRoutes());
             Generator generator = new Generator(ctx, sampler, 0, path.decoder())) {
            refuseUntokenizable(request.prompt(), ctx.contextSize() + 1, "the context (" + ctx.contextSize()
                    + " tokens)", "use a larger -c or a shorter prompt");
            int[] tokens = model.tokenizer().tokenize(request.prompt(), true, true);
            generator.requireFits(tokens, 0);
            routing.startSequence(0, tokens);
            boolean[] prefilled = {false};
            Runnable announce = () -> {
                if (!prefilled[0]) {
                    prefilled[0] = true;
                    listener.prefilled(request.traceRoutes() ? promptPieces(tokens, request.prompt(), path) : List.of());
                }
            };
            GenerationResult r = generator.generate(tokens, request.maxTokens(), t -> {
                announce.run();
                listener.token(t, request.traceRoutes() ? path.route(0, t.id(), t.position()) : Route.UNKNOWN);
            }, listener::stop);
            announce.run();
            return r;
        }
    }

    /** The prompt's pieces with the routes they were decoded with (SPM's leading space dropped, as in the prompt). */
    private List<GenerationListener.Piece> promptPieces(int[] tokens, String prompt, DecodePath path) {
        Tokenizer tok = model.tokenizer();
        TextDecoder text = new TextDecoder();
        List<GenerationListener.Piece> pieces = new ArrayList<>();
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
            pieces.add(new GenerationListener.Piece(piece, path.recorded(0, i)));
        }
        return pieces;
    }

    /** A chat on a context of its own (close it before the engine). */
    public ChatSession chat(ChatSettings settings) {
        return new ChatSession(this, settings);
    }

    /**
     * Completes {@code requests} several at once (continuous batching over {@code settings.parallel()} sequences of
     * one context), reporting each result to {@code sink} as it completes; returns what the decodes did (how full the
     * batches were, the time spent decoding).
     *
     * @throws IllegalArgumentException when the default mix names an adapter that is not loaded
     */
    public DecodeStats complete(List<CompletionRequest> requests, CompletionSettings settings,
            CompletionSink sink) {
        return new BatchCompletion(this, settings, sink).run(requests);
    }

    /**
     * A long-lived completion service over {@code settings.parallel()} sequences of one context: requests pushed from
     * any thread, each with its own adapters (or the token router), streamed to its own listener; at most
     * {@code queueLimit} wait for a sequence. Call {@link CompletionService#start()} to run its batch loop on a
     * thread of its own; close it before the engine. The engine runs one session at a time (its router keeps
     * per-sequence state).
     */
    public CompletionService serve(CompletionSettings settings, int queueLimit) {
        return new CompletionService(this, settings, queueLimit, adapterNames().size());
    }

    /**
     * Perplexity of eval records, per set: {@code [BOS] + tokens} each, every token after BOS predicted from its
     * prefix, several records per decode. {@code source} names the input in messages.
     */
    public List<SetScore> perplexity(String source, List<EvalRecord> records, ScoringOptions options,
            ProgressReporter progress) {
        return new Scoring(this).records(source, records, options, progress);
    }

    /**
     * Perplexity of a text by llama-perplexity's protocol: chunks of the context size (the model's trained length
     * for 0), the second half of each scored, {@code batchSize / contextSize} chunks per decode.
     */
    public SetScore perplexityOfText(String source, String name, String text, ProgressReporter progress) {
        return new Scoring(this).text(source, name, text, progress);
    }

    /**
     * Trains a learned router over the engine's adapters and saves it to {@code output} (checked by
     * {@link OutputFile#check} with {@link OutputFile#ROUTER} before the engine was opened; written whole or not at
     * all); returns its accuracy on the training tokens. Without labels each token's target is the choice (base or one adapter) that best predicts the
     * next token: the corpus is decoded once per adapter and once without. {@code log} gets progress lines.
     */
    public double trainRouter(Corpus corpus, RouterTrainingSettings settings, OutputFile.Target output,
            Consumer<String> log)
            throws IOException {
        return new RouterJobs(this, log).train(corpus, settings, output);
    }

    /**
     * Evaluates a router file on a held-out corpus: perplexities of base, each adapter, the best single adapter per
     * sequence, the router and the per-token oracle; routing accuracy against the oracle (and the labels).
     */
    public RouterEvaluation evaluateRouter(Path routerFile, Corpus corpus, int seqLen, Consumer<String> log)
            throws IOException {
        return new RouterJobs(this, log).evaluate(routerFile, corpus, seqLen);
    }

    /** The decode path of {@code context} routed by {@code router} (null: plain), fed hidden states if it needs them. */
    DecodePath decodePath(Context context, Router router, boolean recordRoutes) {
        HiddenStateFeed hidden = router != null && router.needsHiddenStates() ? routing.hiddenStates() : null;
        return DecodePath.open(context, adapters, router, spec.routingForm(), hidden, recordRoutes);
    }

    /**
     * A prompt's tokens, which must be fewer than {@code limit} (a position is left for the first generated token).
     * A text longer than {@code limit} times the vocabulary's longest token cannot be that short and is refused
     * before it is tokenized, so a 10 MB paste costs a comparison, not seconds of tokenizing and a gigabyte of memory.
     *
     * @param room where it must fit, for the message ("a slot of 512 tokens (context 4096 / 8 slots)")
     * @param fix  what the user can do, for the message ("use a larger -c or a smaller --parallel")
     * @throws PromptTooLongException when it does not fit
     */
    int[] tokenizeWithin(String text, int limit, String room, String fix) {
        refuseUntokenizable(text, limit, room, fix);
        int[] tokens = tokenize(text);
        if (tokens.length >= limit) {
            throw new PromptTooLongException("prompt of " + tokens.length + " tokens does not fit in " + room + "; "
                    + fix, tokens.length, limit);
        }
        return tokens;
    }

    /** Refuses, without tokenizing it, a text too long by its characters alone to be fewer than limit tokens. */
    void refuseUntokenizable(String text, int limit, String room, String fix) {
        int longest = model.tokenizer().maxTokenBytes();
        if (text.length() > (long) limit * longest) {
            throw new PromptTooLongException("prompt of " + text.length() + " characters cannot fit in " + room
                    + " (no token of this model is longer than " + longest + " bytes); " + fix, -1, limit);
        }
    }

    /** A conversation's or request's text as tokens (BOS added once, even when the text starts with it). */
    int[] tokenize(String text) {
        int[] tokens = model.tokenizer().tokenize(text, true, true);
        int bos = model.tokenizer().bos();
        if (tokens.length > 1 && tokens[0] == bos && tokens[1] == bos) {
            tokens = Arrays.copyOfRange(tokens, 1, tokens.length);
        }
        return tokens;
    }

    @Override
    public void close() {
        try {
            routing.close();
        } finally {
            try {
                if (adapters != null) {
                    adapters.close();
                }
            } finally {
                model.close();
            }
        }
    }
}
