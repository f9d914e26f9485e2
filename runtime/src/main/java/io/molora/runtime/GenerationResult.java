package io.molora.runtime;

/**
 * What {@link Generator#generate} produced.
 *
 * @param tokens            generated token ids
 * @param text              their text
 * @param promptTokens      tokens prefilled
 * @param promptSeconds     prefill time
 * @param generationSeconds time from the first sample to the end
 */
public record GenerationResult(int[] tokens, String text, StopReason stopReason, int promptTokens,
        double promptSeconds, double generationSeconds) {
    public double tokensPerSecond() {
        return generationSeconds > 0 ? tokens.length / generationSeconds : 0;
    }
}
