package io.molora.engine.bench;

/** One scenario's result: the best of its runs, in tokens per second. */
public record BenchRow(String name, double tokensPerSecond) {}
