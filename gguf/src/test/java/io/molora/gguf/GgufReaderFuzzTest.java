package io.molora.gguf;

import com.code_intelligence.jazzer.junit.FuzzTest;


/**
 * The reader's contract on arbitrary bytes: it parses, or it throws GgufFormatException.
 * Any other exception or error (OutOfMemoryError, IndexOutOfBounds, ...) fails the test.
 *
 * <p>In a normal test run Jazzer replays the seed corpus under
 * src/test/resources/io/molora/gguf/GgufReaderFuzzTestInputs/readerParsesOrRejects/;
 * with JAZZER_FUZZ=1 it fuzzes for up to maxDuration (see gguf/README.md); the always-on
 * bounded random run is GgufReaderMutationTest.
 */
class GgufReaderFuzzTest {

    @FuzzTest(maxDuration = "5m")
    void readerParsesOrRejects(byte[] input) {
        ReaderContract.check(input);
    }
}
