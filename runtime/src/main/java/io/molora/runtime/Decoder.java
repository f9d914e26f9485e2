package io.molora.runtime;

/** How the decode loop runs a batch: straight through, or with per-token adapter routes applied first. */
@FunctionalInterface
public interface Decoder {
    void decode(Batch batch);

    /** No adapters, or whatever adapters the context has set globally. */
    static Decoder plain(Context context) {
        return context::decode;
    }
}
