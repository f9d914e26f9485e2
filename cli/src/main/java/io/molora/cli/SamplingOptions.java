package io.molora.cli;

import io.molora.runtime.SamplerParams;
import picocli.CommandLine.Option;

/** Sampling flags with llama.cpp's names and defaults. */
final class SamplingOptions {
    @Option(names = "--temp", paramLabel = "T", description = "Temperature; 0 = greedy (default: ${DEFAULT-VALUE}).",
            defaultValue = "0.8", converter = OptionRanges.Temperature.class)
    float temperature;

    @Option(names = "--top-k", paramLabel = "N", description = "Top-k, 0 = off (default: ${DEFAULT-VALUE}).", defaultValue = "40",
            converter = OptionRanges.NonNegative.class)
    int topK;

    @Option(names = "--top-p", paramLabel = "P", description = "Top-p (default: ${DEFAULT-VALUE}).", defaultValue = "0.95",
            converter = OptionRanges.Probability.class)
    float topP;

    @Option(names = "--min-p", paramLabel = "P", description = "Min-p (default: ${DEFAULT-VALUE}).", defaultValue = "0.05",
            converter = OptionRanges.Probability.class)
    float minP;

    @Option(names = {"-s", "--seed"}, paramLabel = "N", description = "RNG seed, -1 = random (default: ${DEFAULT-VALUE}).",
            defaultValue = "-1")
    long seed;

    SamplerParams params() {
        return new SamplerParams(temperature, topK, topP, minP, seed);
    }
}
