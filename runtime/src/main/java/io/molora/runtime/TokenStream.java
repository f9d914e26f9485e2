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
    private final DecodeStep step;
    private int position;
    private StopReason stopReason;

    TokenStream(Generator generator, int startPosition, int maxTokens) {
        this.generator = generator;
        this.step = generator.step(maxTokens);
        this.position = startPosition;
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
        // sample from the logits of the last decode, stop check, detokenize
        DecodeStep.Outcome o = step.next(-1, position);
        stopReason = o.stop();
        if (stopReason == null) {
            // decode the token so the next step has logits
            generator.decodeOne(o.token().id(), position);
            position++;
        }
        return o.token();
    }

    /** Tokens generated so far. */
    public int count() {
        return step.produced();
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
