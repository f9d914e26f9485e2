package io.molora.cli;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Converters that refuse an option value out of its range, so every command reports it as a bad command line
 * (exit 2, naming the option: picocli prefixes "Invalid value for option '-t': ") before any work starts.
 */
final class OptionRanges {
    private OptionRanges() {}

    private static int integer(String s) {
        try {
            return Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            throw new TypeConversionException("'" + s + "' is not a whole number");
        }
    }

    private static float finite(String s) {
        float v;
        try {
            v = Float.parseFloat(s.trim());
        } catch (NumberFormatException e) {
            throw new TypeConversionException("'" + s + "' is not a number");
        }
        if (!Float.isFinite(v)) {
            throw new TypeConversionException("'" + s + "' is not a finite number");
        }
        return v;
    }

    /** 0 or more (context size in tokens, top-k). */
    static final class NonNegative implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            int v = integer(s);
            if (v < 0) {
                throw new TypeConversionException("must be 0 or more, got " + v);
            }
            return v;
        }
    }

    /** 1 or more (batch sizes). */
    static final class Positive implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            int v = integer(s);
            if (v < 1) {
                throw new TypeConversionException("must be 1 or more, got " + v);
            }
            return v;
        }
    }

    /** -1 (all) or 0 or more (layers to offload). */
    static final class Layers implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            int v = integer(s);
            if (v < -1) {
                throw new TypeConversionException("must be -1 (all layers) or 0 or more, got " + v);
            }
            return v;
        }
    }

    /** 0 (all cores) up to the hardware threads this machine runs at once. */
    static final class Threads implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            int v = integer(s);
            int cores = Runtime.getRuntime().availableProcessors();
            if (v < 0 || v > cores) {
                throw new TypeConversionException("this machine runs " + cores + " threads at once: give 1 to " + cores
                        + " (0 = all), got " + v);
            }
            return v;
        }
    }

    /** A probability, 0 to 1 (top-p, min-p). */
    static final class Probability implements ITypeConverter<Float> {
        @Override
        public Float convert(String s) {
            float v = finite(s);
            if (v < 0 || v > 1) {
                throw new TypeConversionException("must be between 0 and 1, got " + s);
            }
            return v;
        }
    }

    /** A temperature: finite, 0 (greedy) or more. */
    static final class Temperature implements ITypeConverter<Float> {
        @Override
        public Float convert(String s) {
            float v = finite(s);
            if (v < 0) {
                throw new TypeConversionException("must be 0 (greedy) or more, got " + s);
            }
            return v;
        }
    }

    /** -1 (no limit) or 0 or more (tokens to generate). */
    static final class TokenLimit implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            int v = integer(s);
            if (v < -1) {
                throw new TypeConversionException("must be -1 (no limit) or 0 or more, got " + v);
            }
            return v;
        }
    }

    /** Sequences decoded at once: 1 to 256 (complete, serve). */
    static final class Parallel extends Between {
        Parallel() {
            super(1, 256);
        }
    }

    /** A TCP port, 0 (any free one) to 65535. */
    static final class Port extends Between {
        Port() {
            super(0, 65535);
        }
    }

    /** Tokens per sequence of a router corpus: 2 (a token and the one it predicts) to 65536. */
    static final class SequenceLength extends Between {
        SequenceLength() {
            super(2, 65536);
        }
    }

    /** A gate's hidden units: 0 (linear) to 4096 (a gate far wider than any model it routes is not a gate). */
    static final class HiddenUnits extends Between {
        HiddenUnits() {
            super(0, 4096);
        }
    }

    /** Training epochs: 1 to 100000. */
    static final class Epochs extends Between {
        Epochs() {
            super(1, 100_000);
        }
    }

    /** A learning rate: finite, above 0, at most 10. */
    static final class LearningRate implements ITypeConverter<Float> {
        @Override
        public Float convert(String s) {
            float v = finite(s);
            if (!(v > 0) || v > 10) {
                throw new TypeConversionException("must be above 0 and at most 10, got " + s);
            }
            return v;
        }
    }

    /** Seconds between progress lines: 0.1 to 86400 (a day). */
    static final class Interval implements ITypeConverter<Double> {
        @Override
        public Double convert(String s) {
            float v = finite(s);
            if (v < 0.1 || v > 86_400) {
                throw new TypeConversionException("must be between 0.1 and 86400 seconds, got " + s);
            }
            return (double) v;
        }
    }

    /** A context size in tokens: 0 (the model's own) to 2^24 (llama.cpp's buffers are sized from it). */
    static final class ContextSize implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            return atMost(new NonNegative().convert(s), 1 << 24);
        }
    }

    /** A batch of tokens: 1 to 2^20. */
    static final class BatchSize implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            return atMost(new Positive().convert(s), 1 << 20);
        }
    }

    private static int atMost(int v, int hi) {
        if (v > hi) {
            throw new TypeConversionException("must be at most " + hi + ", got " + v);
        }
        return v;
    }

    /** A benchmark's token count (prompt, prefill, generated): 1 to 65536. */
    static final class BenchTokens extends Between {
        BenchTokens() {
            super(1, 65536);
        }
    }

    /** A LoRA rank: 1 to 1024. */
    static final class Rank extends Between {
        Rank() {
            super(1, 1024);
        }
    }

    /** A number of adapters: 1 to 64. */
    static final class AdapterCount extends Between {
        AdapterCount() {
            super(1, 64);
        }
    }

    /** Repeats of a measurement: 1 to 1000. */
    static final class Repeats extends Between {
        Repeats() {
            super(1, 1000);
        }
    }

    /** A router's switch bonus: finite, 0 to 1000. */
    static final class SwitchBonus implements ITypeConverter<Double> {
        @Override
        public Double convert(String s) {
            float v = finite(s);
            if (v < 0 || v > 1000) {
                throw new TypeConversionException("must be between 0 and 1000, got " + s);
            }
            return (double) v;
        }
    }

    /** A whole number from {@code lo} to {@code hi}: "must be between lo and hi, got v". */
    abstract static class Between implements ITypeConverter<Integer> {
        private final int lo;
        private final int hi;

        Between(int lo, int hi) {
            this.lo = lo;
            this.hi = hi;
        }

        @Override
        public Integer convert(String s) {
            return between(s, lo, hi);
        }
    }

    private static int between(String s, int lo, int hi) {
        int v = integer(s);
        if (v < lo || v > hi) {
            throw new TypeConversionException("must be between " + lo + " and " + hi + ", got " + v);
        }
        return v;
    }
}
