package io.molora.gguf;

/**
 * The reader's fuzz target for Jazzer's own command line (scripts/fuzz-reader): the contract of
 * {@link GgufReaderFuzzTest}, for runs counted in executions (millions) rather than bounded by the JUnit test's
 * maxDuration.
 */
public final class GgufReaderFuzzer {
    private GgufReaderFuzzer() {}

    public static void fuzzerTestOneInput(byte[] input) {
        ReaderContract.check(input);
    }
}
