package io.molora.adapters.vocab;

import java.nio.charset.StandardCharsets;

/** A vocabulary given as piece texts ("" = a special token with no text); token text = piece. */
record FakeVocab(String[] pieces) implements Vocabulary {
    static FakeVocab of(String... pieces) {
        return new FakeVocab(pieces);
    }

    @Override
    public int size() {
        return pieces.length;
    }

    @Override
    public byte[] pieceBytes(int token) {
        return pieces[token].getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String tokenText(int token) {
        return pieces[token].replace(' ', '▁');
    }
}
