/** Adapter sets, PEFT adapter directories converted to GGUF, and routers (fixed, per sequence, per-token list, soft
 * top-k, vocabulary rules, learned gates). */
module io.molora.adapters {
    requires transitive io.molora.runtime;
    requires io.molora.gguf;
    requires com.fasterxml.jackson.databind;

    exports io.molora.adapters;
    exports io.molora.adapters.eval;
    exports io.molora.adapters.gate;
    exports io.molora.adapters.peft;
    exports io.molora.adapters.routers;
    exports io.molora.adapters.vocab;
}
