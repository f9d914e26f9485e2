package io.molora.runtime;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * The decode loop for one sequence of a context: prompt in batches (logits only for the last token), then
 * sample → stream → stop check → decode, one token at a time.
 *
 * <p>Mutates the context's KV cache for its sequence; positions continue from where the caller says, so a chat can
 * keep earlier turns in the cache and prefill only the new tokens.
 */
public final class Generator implements AutoCloseable {
    private final Context context;
    private final Sampler sampler;
    private final int sequence;
    private final Decoder decoder;
    private final Batch batch;

    public Generator(Context context, Sampler sampler) {
        this(context, sampler, 0, Decoder.plain(context));
    }

    /** A generator whose every decode goes through {@code decoder} (e.g. a {@link RoutedDecoder}). */
    public Generator(Context context, Sampler sampler, int sequence, Decoder decoder) {
        this.context = context;
        this.sampler = sampler;
        this.sequence = sequence;
        this.decoder = decoder;
        this.batch = new Batch(context.batchSize());
    }

    /**
     * Prefills {@code prompt} at positions {@code start...} of this generator's sequence and returns the stream of
     * generated tokens.
     *
     * @throws IllegalArgumentException when the prompt does not fit in the context
     */
    public TokenStream start(int[] prompt, int start, int maxTokens) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("prompt is empty");
        }
        if (maxTokens < 0) {
            throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
        }
        requireFits(prompt, start);
        for (int t : prompt) {
            context.model().tokenizer().checkToken(t);
        }
        // Prompt in batches of at most n_batch tokens; only the very last token needs logits.
        int chunk = context.batchSize();
        for (int from = 0; from < prompt.length; from += chunk) {
            int to = Math.min(prompt.length, from + chunk);
            batch.clear();
            for (int i = from; i < to; i++) {
                batch.add(prompt[i], start + i, sequence, i == prompt.length - 1);
            }
            decoder.decode(batch);
        }
        return new TokenStream(this, start + prompt.length, maxTokens);
    }

    /**
     * Checks, before anything is decoded, that {@code prompt} fits in the context from position {@code start}.
     *
     * @throws IllegalArgumentException when it does not
     */
    public void requireFits(int[] prompt, int start) {
        if (start < 0) {
            throw new IllegalArgumentException("start position must be >= 0, got " + start);
        }
        if ((long) start + prompt.length > context.contextSize()) {
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens does not fit in the context ("
                    + context.contextSize() + " tokens" + (start > 0 ? ", " + start + " already used" : "")
                    + "); use a larger -c or a shorter prompt");
        }
    }

    /** Generates up to {@code maxTokens} after {@code prompt} (from position 0), streaming each token to {@code sink}. */
    public GenerationResult generate(int[] prompt, int maxTokens, Consumer<GeneratedToken> sink) {
        return generate(prompt, maxTokens, sink, () -> false);
    }

    /**
     * As {@link #generate(int[], int, Consumer)}, and {@code stop} is asked after each token: true ends the generation
     * there ({@link StopReason#CANCELLED}).
     */
    public GenerationResult generate(int[] prompt, int maxTokens, Consumer<GeneratedToken> sink, BooleanSupplier stop) {
        List<Integer> tokens = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        long t0 = System.nanoTime();
        try (TokenStream stream = start(prompt, 0, maxTokens)) {
            long t1 = System.nanoTime();
            while (stream.hasNext()) {
                GeneratedToken t = stream.next();
                tokens.add(t.id());
                text.append(t.text());
                sink.accept(t);
                if (stream.hasNext() && stop.getAsBoolean()) {
                    stream.close();
                }
            }
            long t2 = System.nanoTime();
            return new GenerationResult(tokens.stream().mapToInt(Integer::intValue).toArray(), text.toString(),
                    stream.stopReason(), prompt.length, (t1 - t0) / 1e9, (t2 - t1) / 1e9);
        }
    }

    /** The decode step of a stream of at most {@code maxTokens} tokens over the whole context. */
    DecodeStep step(int maxTokens) {
        return new DecodeStep(context, sampler, maxTokens, context.contextSize(), -1);
    }

    void decodeOne(int token, int position) {
        batch.clear();
        batch.add(token, position, sequence, true);
        decoder.decode(batch);
    }

    @Override
    public void close() {
        batch.close();
    }
}
