package io.molora.runtime;

import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Generated tokens, produced lazily: each {@link #next()} samples one token and, if generation goes on, decodes it.
 * Stop early by closing the stream (try-with-resources); {@link #stopReason()} says why it ended.
 *
 * <p>Each step, as llama.cpp's examples do it: sample from the last logits → hand the token out → stop check
 * (end-of-generation, max tokens, context full) → decode the token so the next logits exist.
 */
public final class TokenStream implements Iterator<GeneratedToken>, AutoCloseable {
    private final Generator generator;
    private final int maxTokens;
    private final TextDecoder text = new TextDecoder();
    private int produced;
    private int position;
    private StopReason stopReason;

    TokenStream(Generator generator, int startPosition, int maxTokens) {
        this.generator = generator;
        this.position = startPosition;
        this.maxTokens = maxTokens;
        if (maxTokens == 0) {
            stopReason = StopReason.MAX_TOKENS;
        }
    }

    @Override
    public boolean hasNext() {
        return stopReason == null;
    }

    @Override
    public GeneratedToken next() {
        if (stopReason != null) {
            throw new NoSuchElementException("generation ended: " + stopReason);
        }
        // 1. sample from the logits of the last decode
        int token = generator.sampleLast();
        int tokenPosition = position;
        produced++;
        // 2. the stop checks
        Tokenizer tokenizer = generator.tokenizer();
        if (tokenizer.isEndOfGeneration(token)) {
            stopReason = StopReason.END_OF_GENERATION;
        } else if (produced >= maxTokens) {
            stopReason = StopReason.MAX_TOKENS;
        } else if (position + 1 > generator.context().contextSize()) {
            stopReason = StopReason.CONTEXT_FULL;
        } else {
            // 3. decode the token so the next step has logits
            generator.decodeOne(token, position);
            position++;
        }
        String piece = stopReason == StopReason.END_OF_GENERATION ? "" : text.push(tokenizer.pieceBytes(token, false));
        if (stopReason != null) {
            piece += text.finish();
        }
        return new GeneratedToken(token, piece, tokenPosition);
    }

    /** Tokens generated so far. */
    public int count() {
        return produced;
    }

    /** The next free position of the sequence (the generated tokens that were decoded are before it). */
    public int nextPosition() {
        return position;
    }

    /** Why generation ended, or null while it is still going. */
    public StopReason stopReason() {
        return stopReason;
    }

    @Override
    public void close() {
        if (stopReason == null) {
            stopReason = StopReason.CANCELLED;
        }
    }
}
