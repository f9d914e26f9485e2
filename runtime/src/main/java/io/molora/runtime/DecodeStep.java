package io.molora.runtime;

/**
 * One step of generation for one sequence, the same for a single stream ({@link TokenStream}) and for each slot of a
 * {@link SequenceScheduler}: sample from the last decode's logits → stop check → detokenize. One set of stop rules:
 * an end-of-generation token, the token limit, or a token at the sequence's position limit (it would not fit).
 * Decoding the token (when generation goes on) is the caller's: a stream decodes it alone, a scheduler in its next
 * batch.
 */
final class DecodeStep {
    private final Context context;
    private final Sampler sampler;
    private final int maxTokens;
    private final int positionLimit;
    private final int logprobs;
    private final TextDecoder text = new TextDecoder();
    private int produced;

    /** A sampled token, and why generation ends with it (null: it goes on, the token is to be decoded). */
    record Outcome(GeneratedToken token, StopReason stop) {}

    /**
     * @param maxTokens     tokens to generate at most
     * @param positionLimit positions the sequence may use: a token at this position or beyond ends generation
     * @param logprobs      -1: no log-probabilities; n >= 0: each token's, with the n most likely alternatives
     */
    DecodeStep(Context context, Sampler sampler, int maxTokens, int positionLimit, int logprobs) {
        if (logprobs < -1 || logprobs > TokenLogprobs.MAX_TOP) {
            throw new IllegalArgumentException("logprobs: -1 to " + TokenLogprobs.MAX_TOP + ", got " + logprobs);
        }
        this.context = context;
        this.sampler = sampler;
        this.maxTokens = maxTokens;
        this.positionLimit = positionLimit;
        this.logprobs = logprobs;
    }

    /** Samples the token at {@code position} from the logits of output {@code outputIndex} (-1: the last). */
    Outcome next(int outputIndex, int position) {
        // 1. sample
        int token = sampler.sample(context, outputIndex);
        produced++;
        // the logits are the decode's, untouched by the sampler (it works on a copy)
        TokenLogprobs lp = logprobs < 0 ? null : TokenLogprobs.of(context.logitsView(outputIndex), token, logprobs);
        // 2. the stop checks
        Tokenizer tokenizer = context.model().tokenizer();
        StopReason stop = null;
        if (tokenizer.isEndOfGeneration(token)) {
            stop = StopReason.END_OF_GENERATION;
        } else if (produced >= maxTokens) {
            stop = StopReason.MAX_TOKENS;
        } else if (position + 1 > positionLimit) {
            stop = StopReason.CONTEXT_FULL;
        }
        // 3. detokenize (an incomplete character waits for the next piece; the last piece flushes it)
        String piece = stop == StopReason.END_OF_GENERATION ? "" : text.push(tokenizer.pieceBytes(token, false));
        if (stop != null) {
            piece += text.finish();
        }
        return new Outcome(new GeneratedToken(token, piece, position, lp), stop);
    }

    /** Tokens sampled so far. */
    int produced() {
        return produced;
    }
}
