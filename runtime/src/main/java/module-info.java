/** Safe Java over llama.cpp's C API: model, context, tokenizer, sampler, batch, the decode loop, routes. */
module io.molora.runtime {
    requires io.molora.bindings;
    requires io.molora.gguf;
    requires transitive java.logging;

    exports io.molora.runtime;
}
