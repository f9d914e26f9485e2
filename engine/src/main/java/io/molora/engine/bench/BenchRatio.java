package io.molora.engine.bench;

/**
 * One scenario's tokens/s over another's, measured in the same run.
 *
 * @param target what the ratio should reach (e.g. {@code ">= 0.90"}); empty when it is shown for information
 */
public record BenchRatio(String numerator, String denominator, double value, String target) {}
