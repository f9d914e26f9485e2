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
    static final class Parallel implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            return between(s, 1, 256);
        }
    }

    /** A TCP port, 0 (any free one) to 65535. */
    static final class Port implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            return between(s, 0, 65535);
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
