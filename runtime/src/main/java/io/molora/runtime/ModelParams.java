package io.molora.runtime;

/**
 * How to load a model.
 *
 * @param gpuLayers layers to offload to the GPU; -1 = all (llama.cpp's {@code -ngl})
 * @param useMmap   map the file instead of reading it
 * @param vocabOnly load only the vocabulary (tokenizer tests, inspection)
 */
public record ModelParams(int gpuLayers, boolean useMmap, boolean vocabOnly) {
    public ModelParams {
        if (gpuLayers < -1) {
            throw new IllegalArgumentException("gpuLayers must be -1 (all) or >= 0, got " + gpuLayers);
        }
    }

    /** CPU only, mmap on. */
    public static ModelParams defaults() {
        return new ModelParams(0, true, false);
    }

    public ModelParams withGpuLayers(int layers) {
        return new ModelParams(layers, useMmap, vocabOnly);
    }

    public ModelParams withVocabOnly(boolean only) {
        return new ModelParams(gpuLayers, useMmap, only);
    }
}
