package io.molora.gguf.synth;

import io.molora.gguf.AdapterInfo;
import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufFile;
import io.molora.gguf.LoraCompatibility;
import io.molora.gguf.LoraPair;
import io.molora.gguf.TensorEncoding;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class SyntheticLoraTest {
    @TempDir
    static Path dir;

    static LlamaConfig config;
    static Path model;

    @BeforeAll
    static void writeModel() throws Exception {
        SyntheticModelTest.loadVocab();
        config = SyntheticModelTest.tiny().withWeightType(GgmlType.Q8_0);
        model = dir.resolve("base.gguf");
        SyntheticModel.of(config, SyntheticModelTest.vocab, 11).write(model);
    }

    @Test
    void randomAdapterOnEveryTargetFitsTheModel() throws Exception {
        LoraSpec spec = new LoraSpec("all", 8, 16f, EnumSet.allOf(LoraTarget.class), 99, 1f, GgmlType.F16);
        Path file = dir.resolve("all.gguf");
        SyntheticLora lora = SyntheticLora.random(config, spec);
        lora.write(file);
        assertEquals(lora.expectedFileSize(), Files.size(file));
        try (GgufFile base = GgufFile.open(model); GgufFile adapter = GgufFile.open(file)) {
            assertEquals(List.of(), LoraCompatibility.check(base, adapter));
            AdapterInfo info = AdapterInfo.of(adapter);
            assertTrue(info.isLora());
            assertEquals("llama", info.architecture());
            assertEquals(16f, info.alpha());
            assertEquals(7 * 2 + 2, info.pairs().size());
            for (LoraPair p : info.pairs()) {
                assertEquals(8, p.rank(), p.baseTensor());
                assertEquals(GgmlType.F16, p.a().type());
            }
            assertTrue(info.targets().contains("token_embd.weight"));
            assertTrue(info.targets().contains("blk.1.ffn_down.weight"));
            assertArrayEquals(new long[] {8, 32000}, adapter.tensor("token_embd.weight.lora_a").orElseThrow().shape());
            assertArrayEquals(new long[] {8, 64}, adapter.tensor("token_embd.weight.lora_b").orElseThrow().shape());
            assertArrayEquals(new long[] {128, 8}, adapter.tensor("blk.0.ffn_down.weight.lora_a").orElseThrow().shape());
            assertArrayEquals(new long[] {8, 64}, adapter.tensor("blk.0.ffn_down.weight.lora_b").orElseThrow().shape());
        }
    }

    @Test
    void adapterIsDeterministic() throws Exception {
        LoraSpec spec = LoraSpec.attention("att", 4, 5);
        Path a = dir.resolve("a.gguf");
        Path b = dir.resolve("b.gguf");
        SyntheticLora.random(config, spec).write(a);
        SyntheticLora.random(config, spec).write(b);
        assertEquals(-1, Files.mismatch(a, b));
    }

    @Test
    void adapterForAnotherModelSizeIsRejectedWithShapes() throws Exception {
        LlamaConfig wider = new LlamaConfig("w", 32000, 128, 2, 128, 4, 2, 512, 1e4f, 1e-5f, GgmlType.F32);
        Path file = dir.resolve("wider.gguf");
        SyntheticLora.random(wider, new LoraSpec("q", 4, 4, Set.of(LoraTarget.Q), 1, 1, GgmlType.F32)).write(file);
        try (GgufFile base = GgufFile.open(model); GgufFile adapter = GgufFile.open(file)) {
            List<LoraCompatibility.Problem> problems = LoraCompatibility.check(base, adapter);
            assertFalse(problems.isEmpty());
            assertEquals("blk.0.attn_q.weight", problems.get(0).tensor());
            assertTrue(problems.get(0).message().contains("base ne[0]=64 must equal lora_a ne[0]=128"), problems.get(0).message());
        }
    }

    /**
     * Reference computation of llama.cpp's last layer with the boost adapter applied:
     * h = rmsnorm(x) * output_norm, logits = W_out h + (alpha/r) B (A h). The residual x is a
     * token embedding plus heavy noise on every non-anchor dimension, standing in for what
     * many layers add (rms 8, more than the 28-layer benchmark model reaches).
     */
    @Test
    void boostAdapterPutsChosenTokensOnTopForAnyHiddenState() throws Exception {
        Set<Integer> chosen = Set.of(1234, 29871, 500);
        Path file = dir.resolve("boost.gguf");
        SyntheticLora.tokenBoost(config, chosen).write(file);
        int e = config.embeddingLength();
        int v = config.vocabSize();
        try (GgufFile base = GgufFile.open(model); GgufFile adapter = GgufFile.open(file)) {
            assertEquals(List.of(), LoraCompatibility.check(base, adapter));
            float[][] wOut = matrix(base.tensorData("output.weight"), GgmlType.Q8_0, v, e);
            float[][] emb = matrix(base.tensorData("token_embd.weight"), GgmlType.Q8_0, v, e);
            float[] norm = matrix(base.tensorData("output_norm.weight"), GgmlType.F32, 1, e)[0];
            float[] a = matrix(adapter.tensorData("output.weight.lora_a"), GgmlType.F32, 1, e)[0];
            float[] b = column(adapter.tensorData("output.weight.lora_b"), v);
            float scale = AdapterInfo.of(adapter).alpha() / 1;
            Random random = new Random(1);
            int boostedWins = 0;
            int baseWins = 0;
            int trials = 60;
            for (int trial = 0; trial < trials; trial++) {
                double noise = new double[] {0, 1, 3, 8}[trial % 4];
                float[] x = emb[random.nextInt(v)].clone();
                for (int i = 1; i < e; i++) {
                    x[i] += (float) (random.nextGaussian() * noise);
                }
                float[] h = rmsNorm(x, norm, config.rmsNormEpsilon());
                float ah = dot(a, h);
                assertTrue(ah > 0, "A·h = h[anchor] is positive");
                int baseTop = -1;
                int boostedTop = -1;
                float baseBest = Float.NEGATIVE_INFINITY;
                float boostedBest = Float.NEGATIVE_INFINITY;
                for (int t = 0; t < v; t++) {
                    float logit = dot(wOut[t], h);
                    float boosted = logit + scale * b[t] * ah;
                    if (logit > baseBest) {
                        baseBest = logit;
                        baseTop = t;
                    }
                    if (boosted > boostedBest) {
                        boostedBest = boosted;
                        boostedTop = t;
                    }
                }
                boostedWins += chosen.contains(boostedTop) ? 1 : 0;
                baseWins += chosen.contains(baseTop) ? 1 : 0;
            }
            assertEquals(trials, boostedWins, "a chosen token wins every time with the adapter");
            assertTrue(baseWins < 3, "and almost never without it: " + baseWins);
        }
    }

    private static float[][] matrix(MemorySegment data, GgmlType type, int rows, int cols) {
        float[][] m = new float[rows][cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                m[r][c] = TensorEncoding.decode(type, data, (long) r * cols + c);
            }
        }
        return m;
    }

    private static float[] column(MemorySegment data, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = TensorEncoding.decode(GgmlType.F32, data, i);
        }
        return out;
    }

    private static float[] rmsNorm(float[] x, float[] weight, float eps) {
        double ss = 0;
        for (float f : x) {
            ss += f * f;
        }
        float inv = (float) (1 / Math.sqrt(ss / x.length + eps));
        float[] h = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            h[i] = x[i] * inv * weight[i];
        }
        return h;
    }

    private static float dot(float[] a, float[] b) {
        float s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
