package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicReferenceArray;

/** The model's vocabulary ({@code const struct llama_vocab *}): text to tokens and back. Valid while its model is open. */
public final class Tokenizer {
    private final Model model;
    private final MemorySegment vocab;
    private final int size;
    /** Rendered pieces by token id, filled on first use (with and without special tokens rendered). */
    private final AtomicReferenceArray<byte[]> pieces;
    private final AtomicReferenceArray<byte[]> piecesSpecial;
    /** See {@link #maxTokenBytes}; 0 until computed. */
    private volatile int maxTokenBytes;

    Tokenizer(Model model, MemorySegment vocab) {
        this.model = model;
        this.vocab = vocab;
        this.size = llama_vocab_n_tokens(vocab);
        this.pieces = new AtomicReferenceArray<>(size);
        this.piecesSpecial = new AtomicReferenceArray<>(size);
    }

    public int vocabSize() {
        return size;
    }

    /**
     * Tokenizes UTF-8 text.
     *
     * @param addSpecial   add BOS/EOS as the model wants
     * @param parseSpecial treat special-token text such as {@code <s>} as the special token
     */
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
        checkOpen();
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment input = arena.allocate(Math.max(1, utf8.length));
            MemorySegment.copy(utf8, 0, input, ValueLayout.JAVA_BYTE, 0, utf8.length);
            // A first guess at the size; llama_tokenize returns -needed when the buffer is too small.
            int capacity = utf8.length + 8;
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT, capacity);
            int n = llama_tokenize(vocab, input, utf8.length, out, capacity, addSpecial, parseSpecial);
            if (n < 0) {
                if (n == Integer.MIN_VALUE) {
                    throw new LlamaException("text too long to tokenize (" + utf8.length + " bytes)");
                }
                capacity = -n;
                out = arena.allocate(ValueLayout.JAVA_INT, capacity);
                n = llama_tokenize(vocab, input, utf8.length, out, capacity, addSpecial, parseSpecial);
                if (n < 0) {
                    throw new LlamaException("tokenization failed for " + utf8.length + " bytes of text");
                }
            }
            return out.asSlice(0, (long) n * Integer.BYTES).toArray(ValueLayout.JAVA_INT);
        }
    }

    /** The UTF-8 bytes a token stands for (a token may hold part of a multi-byte character). */
    public byte[] pieceBytes(int token, boolean renderSpecial) {
        checkToken(token);
        // A token's piece never changes: render it once (a native call and a native allocation) and keep it, since
        // every generated token of every stream comes through here.
        AtomicReferenceArray<byte[]> cache = renderSpecial ? piecesSpecial : pieces;
        byte[] cached = cache.get(token);
        if (cached == null) {
            cached = render(token, renderSpecial);
            cache.set(token, cached);
        }
        return cached.clone();
    }

    private byte[] render(int token, boolean renderSpecial) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(128);
            int n = llama_token_to_piece(vocab, token, buf, (int) buf.byteSize(), 0, renderSpecial);
            if (n < 0) {
                buf = arena.allocate(-n);
                n = llama_token_to_piece(vocab, token, buf, (int) buf.byteSize(), 0, renderSpecial);
            }
            if (n < 0) {
                throw new LlamaException("cannot render token " + token);
            }
            return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** One token as text (special tokens rendered); incomplete UTF-8 shows as U+FFFD — use a {@link TextDecoder} for streams. */
    public String piece(int token) {
        return new String(pieceBytes(token, true), StandardCharsets.UTF_8);
    }

    /** Tokens back to text, the way llama.cpp's own examples print them: piece after piece, special tokens rendered. */
    public String detokenize(int[] tokens) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int t : tokens) {
            bytes.writeBytes(pieceBytes(t, true));
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    public boolean isEndOfGeneration(int token) {
        checkToken(token);
        return llama_vocab_is_eog(vocab, token);
    }

    public int bos() {
        checkOpen();
        return llama_vocab_bos(vocab);
    }

    public int eos() {
        checkOpen();
        return llama_vocab_eos(vocab);
    }

    /** The token's text as stored in the vocabulary (e.g. "▁the"). */
    /**
     * The longest token text of the vocabulary, in UTF-8 bytes (at least 1). A token's text is never shorter than the
     * bytes of input it stands for (SPM writes a space as the three bytes of "▁" and a raw byte as "<0xE9>", GPT-2's
     * BPE a byte as one or two), so a text of more than {@code n} times this many bytes — or UTF-16 chars, never more
     * than its bytes — cannot tokenize to {@code n} tokens or fewer: a prompt far beyond the context is refused
     * without tokenizing it. Computed once, on first use.
     */
    public int maxTokenBytes() {
        int m = maxTokenBytes;
        if (m == 0) {
            checkOpen();
            m = 1;
            for (int t = 0; t < size; t++) {
                MemorySegment text = llama_vocab_get_text(vocab, t).reinterpret(Long.MAX_VALUE);
                long n = 0;
                while (text.get(ValueLayout.JAVA_BYTE, n) != 0) {
                    n++;
                }
                m = (int) Math.max(m, Math.min(n, Integer.MAX_VALUE));
            }
            maxTokenBytes = m;
        }
        return m;
    }

    public String tokenText(int token) {
        checkToken(token);
        return llama_vocab_get_text(vocab, token).reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** Rejects ids llama.cpp would index out of bounds with. */
    public void checkToken(int token) {
        checkOpen();
        if (token < 0 || token >= size) {
            throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, " + size + ")");
        }
    }

    private void checkOpen() {
        if (!model.isOpen()) {
            throw new IllegalStateException("tokenizer used after its model was closed");
        }
    }
}
