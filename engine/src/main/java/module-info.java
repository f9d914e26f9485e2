/** The application layer: {@code Engine.open}, one router factory, generation, chat, batch completion, scoring; the benchmark
 * of routed adapters against stock llama.cpp. */
module io.molora.engine {
    requires transitive io.molora.adapters;
    requires io.molora.gguf;

    exports io.molora.engine;
    exports io.molora.engine.bench;
}
