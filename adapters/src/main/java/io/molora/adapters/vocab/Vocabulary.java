package io.molora.adapters.vocab;

import io.molora.runtime.Tokenizer;

/** What a vocabulary router needs to know about each token id; read once, when the router is built. */
public interface Vocabulary {
    int size();

    /** The UTF-8 bytes the token stands for in text (special tokens: their text only if rendered). */
    byte[] pieceBytes(int token);

    /** The token's text as stored in the vocabulary (e.g. "▁the", "&lt;0x0A&gt;"). */
    String tokenText(int token);

    /** A model's vocabulary. Special tokens (e.g. {@code <s>}) have no text here: route them by id. */
    static Vocabulary of(Tokenizer tokenizer) {
        return new Vocabulary() {
            @Override
            public int size() {
                return tokenizer.vocabSize();
            }

            @Override
            public byte[] pieceBytes(int token) {
                return tokenizer.pieceBytes(token, false);
            }

            @Override
            public String tokenText(int token) {
                return tokenizer.tokenText(token);
            }
        };
    }
}
