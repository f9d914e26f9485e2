package io.molora.adapters.gate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.molora.runtime.Batch;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Model;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A base pass gives a sequence's hidden states bit for bit as a context of its own would, whatever passes came
 * before on the same (kept, grown) context: a request's routes may not depend on which requests a server saw first.
 */
class BasePassTest {
    @TempDir
    static Path dir;
    static Model model;

    @BeforeAll
    static void load() throws IOException {
        model = Model.load(NativeTestSupport.writeTinyModel(dir, 5), NativeTestSupport.modelParams());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static int[] tokens(long seed, int n) {
        Random r = new Random(seed);
        int[] t = new int[n];
        t[0] = model.tokenizer().bos();
        for (int i = 1; i < n; i++) {
            t[i] = 1000 + r.nextInt(2000);
        }
        return t;
    }

    /** The oracle: a fresh context sized for the sequence alone, one decode, every position's embedding. */
    static float[][] alone(int[] t) {
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(Math.max(64, t.length))
                .withBatch(t.length, t.length).withEmbeddings(true)); Batch b = new Batch(t.length)) {
            for (int i = 0; i < t.length; i++) {
                b.add(t[i], i, 0, true);
            }
            ctx.decode(b);
            float[][] h = new float[t.length][];
            for (int i = 0; i < t.length; i++) {
                h[i] = ctx.embedding(i);
            }
            return h;
        }
    }

    @Test
    void statesAreTheSameWhateverCameBefore() {
        int[] shortOne = tokens(1, 23);
        int[] longOne = tokens(2, 300);
        float[][] expected = alone(shortOne);
        try (BasePass pass = new BasePass(model, ContextParams.defaults())) {
            assertStates(expected, pass.states(shortOne), "first pass");
            pass.states(longOne);  // the context grows
            assertStates(alone(longOne), pass.states(longOne), "the long one again");
            assertStates(expected, pass.states(shortOne), "after a longer sequence");
        }
        try (BasePass pass = new BasePass(model, ContextParams.defaults())) {
            pass.reserve(2048);
            assertStates(expected, pass.states(shortOne), "in a context reserved far larger");
        }
        try (BasePass pass = new BasePass(model, ContextParams.defaults())) {
            assertEquals(0, pass.states(new int[0]).length);
        }
    }

    static void assertStates(float[][] expected, float[][] got, String when) {
        assertEquals(expected.length, got.length, when);
        for (int p = 0; p < expected.length; p++) {
            assertArrayEquals(expected[p], got[p], 0f, when + ": position " + p);
        }
    }
}
