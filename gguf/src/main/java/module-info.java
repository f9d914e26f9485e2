/** Pure-Java GGUF reading, writing and validation; synthetic models and adapters for tests and benchmarks. */
module io.molora.gguf {
    exports io.molora.gguf;
    exports io.molora.gguf.synth;
}
