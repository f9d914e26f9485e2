package io.molora.runtime;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Turns a stream of token pieces into text without breaking multi-byte characters that span tokens: bytes of an
 * incomplete character wait for the next piece.
 */
public final class TextDecoder {
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    private ByteBuffer pending = ByteBuffer.allocate(0);

    /** Nothing pending. */
    public TextDecoder() {}

    /** Returns the text completed by these bytes (possibly empty). */
    public String push(byte[] piece) {
        ByteBuffer in = ByteBuffer.allocate(pending.remaining() + piece.length);
        in.put(pending).put(piece).flip();
        CharBuffer out = CharBuffer.allocate(in.remaining() + 1);
        decoder.decode(in, out, false);
        pending = in.slice();
        return out.flip().toString();
    }

    /** Whatever is left, malformed bytes replaced. */
    public String finish() {
        CharBuffer out = CharBuffer.allocate(pending.remaining() + 2);
        decoder.decode(pending, out, true);
        decoder.flush(out);
        pending = ByteBuffer.allocate(0);
        decoder.reset();
        return out.flip().toString();
    }
}
