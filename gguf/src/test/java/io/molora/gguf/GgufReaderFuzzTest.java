package io.molora.gguf;

import com.code_intelligence.jazzer.junit.FuzzTest;

import java.lang.foreign.MemorySegment;

/**
 * The reader's contract on arbitrary bytes: it parses, or it throws GgufFormatException.
 * Any other exception or error (OutOfMemoryError, IndexOutOfBounds, ...) fails the test.
 *
 * <p>In a normal test run Jazzer replays the seed corpus under
 * src/test/resources/io/molora/gguf/GgufReaderFuzzTestInputs/readerParsesOrRejects/;
 * with JAZZER_FUZZ=1 it fuzzes (see gguf/README.md).
 */
class GgufReaderFuzzTest {

    @FuzzTest(maxDuration = "10s")
    void readerParsesOrRejects(byte[] input) {
        ReaderContract.check(input);
    }
}
