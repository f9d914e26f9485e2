package io.molora.cli;

import io.molora.engine.OutputFile;
import java.io.IOException;

/**
 * The reason of an I/O error in words (Java's file exceptions often carry only the path as their message); one home:
 * {@link OutputFile#reason}.
 */
final class IoErrors {
    private IoErrors() {}

    static String reason(IOException e) {
        return OutputFile.reason(e);
    }
}
