package io.molora.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Text as molora reads it from files (corpora, perplexity texts, eval records, batch inputs): strict UTF-8, a byte
 * order mark at the start skipped. Java's own readers either replace bytes that are not UTF-8 silently or fail with
 * "Input length = 1"; these name the file and the byte's offset.
 */
public final class TextFiles {
    private TextFiles() {}

    /**
     * Text that is not UTF-8: "not valid UTF-8 (byte N is 0xXX)", N counted from 1 at the start of what was decoded
     * (a line, or the whole file).
     */
    public static final class NotUtf8Exception extends IOException {
        NotUtf8Exception(String message) {
            super(message);
        }
    }

    /** The UTF-8 byte order mark some editors write at the start of a file. */
    private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};

    /** The whole file as text, without a leading byte order mark. */
    public static String read(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        try {
            return decode(bytes, 0, bytes.length).substring(textStart(bytes) == 0 ? 0 : 1);
        } catch (NotUtf8Exception e) {
            throw new NotUtf8Exception(file + ": " + e.getMessage());
        }
    }

    /** Where the text of a file's bytes starts: after a byte order mark, else 0. */
    public static int textStart(byte[] bytes) {
        return bytes.length >= 3 && bytes[0] == BOM[0] && bytes[1] == BOM[1] && bytes[2] == BOM[2] ? 3 : 0;
    }

    /**
     * Bytes {@code from..to} as UTF-8, refusing what is not.
     *
     * @throws NotUtf8Exception "not valid UTF-8 (byte offset N is 0xXX)", N counted from the start of the file
     */
    public static String decode(byte[] bytes, int from, int to) throws NotUtf8Exception {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, from, to - from);
        CharBuffer out = CharBuffer.allocate(to - from);
        CoderResult r = d.decode(in, out, true);
        if (!r.isError()) {
            r = d.flush(out);
        }
        if (r.isError()) {
            int at = in.position();
            throw new NotUtf8Exception(String.format("not valid UTF-8 (byte %d is 0x%02X)", at - from + 1,
                    bytes[Math.min(at, to - 1)] & 0xff));
        }
        return out.flip().toString();
    }
}
