package io.molora.adapters.gate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.AdapterSpec;
import io.molora.adapters.routers.SoftTopK;
import io.molora.runtime.Batch;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Model;
import io.molora.runtime.ModelParams;
import io.molora.runtime.RouteTable;
import io.molora.runtime.Sampler;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Tokenizer;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rule only context can decide: after "▁if ▁then" comes "7" (the math adapter's token), after "▁for ▁then" comes
 * "▁return" (the code adapter's). On "▁then" a token-only gate can only guess; a gate that also sees the previous
 * position's hidden state (MoLoRA's feature) learns it.
 */
class HiddenStateRouterTest {
    @TempDir
    static Path dir;
    static Path modelPath;
    static Model model;
    static Tokenizer tok;
    static List<AdapterSpec> specs;
    static AdapterSet set;
    static int seven;
    static int ret;
    static int ifT;
    static int forT;
    static int then;

    @BeforeAll
    static void load() throws IOException {
        modelPath = NativeTestSupport.writeTinyModel(dir, 9);
        model = Model.load(modelPath, NativeTestSupport.modelParams());
        tok = model.tokenizer();
        seven = NativeTestSupport.tokenId(tok, "7");
        ret = NativeTestSupport.tokenId(tok, "▁return");
        ifT = NativeTestSupport.tokenId(tok, "▁if");
        forT = NativeTestSupport.tokenId(tok, "▁for");
        then = NativeTestSupport.tokenId(tok, "▁then");
        Path math = NativeTestSupport.writeTokenBoost(dir, "math", seven);
        Path code = NativeTestSupport.writeTokenBoost(dir, "code", ret);
        specs = List.of(new AdapterSpec("math", math, 1f), new AdapterSpec("code", code, 1f));
        set = AdapterSet.load(model, specs);
    }

    @AfterAll
    static void close() {
        set.close();
        model.close();
    }

    static List<int[]> corpus(long seed, int sequences, int length) {
        Random r = new Random(seed);
        List<int[]> out = new ArrayList<>();
        for (int s = 0; s < sequences; s++) {
            int[] t = new int[length];
            t[0] = tok.bos();
            for (int p = 1; p < length; p++) {
                if (t[p - 1] == then) {
                    t[p] = t[p - 2] == ifT ? seven : ret;
                } else if (t[p - 1] == ifT || t[p - 1] == forT) {
                    t[p] = then;
                } else {
                    int x = r.nextInt(10);
                    t[p] = x < 2 ? ifT : x < 4 ? forT : 1000 + r.nextInt(300);
                }
            }
            out.add(t);
        }
        return out;
    }

    /** Expected route of position p: math on a "then" after "if", code on a "then" after "for", else none. */
    static int rule(int[] t, int p) {
        if (t[p] != then) {
            return RouteTable.NONE;
        }
        return t[p - 1] == ifT ? 0 : 1;
    }

    @Test
    void hiddenStateFeaturesDecideWhatTheTokenAloneCannot() throws IOException {
        List<int[]> train = corpus(1, 12, 48);
        int[][] targets = RouterTraining.oracleTargets(RouterTraining.logProbs(model, set, train, m -> { }));
        float[][][] hTrain = RouterTraining.hiddenStates(model, train);
        List<int[]> test = corpus(2, 6, 48);
        float[][][] hTest = RouterTraining.hiddenStates(model, test);
        GateTrainer.Options o = new GateTrainer.Options(32, 60, 32, 1e-2f, 1e-4f, 5);
        try (TokenEmbeddings emb = TokenEmbeddings.open(modelPath)) {
            RouterTraining.Dataset withHidden = RouterTraining.datasetWithHidden(train, targets, emb, hTrain);
            Gate hg = GateTrainer.train(withHidden.x(), withHidden.y(), withHidden.inputs(), 3, o, e -> { });
            RouterTraining.Dataset tokenOnly = RouterTraining.dataset(train, targets, emb);
            Gate tg = GateTrainer.train(tokenOnly.x(), tokenOnly.y(), tokenOnly.inputs(), 3, o, e -> { });

            LearnedRouter tokenRouter = new LearnedRouter(tg, emb, new SoftTopK(1, 1f, 0f), 1f);
            int[] hiddenRight = new int[2];
            int[] tokenRight = new int[2];  // [0]: on "then", [1]: elsewhere
            int[] count = new int[2];
            for (int s = 0; s < test.size(); s++) {
                LearnedRouter hiddenRouter = new LearnedRouter(hg, emb, HiddenStates.of(new float[][][] {hTest[s]}),
                        new SoftTopK(1, 1f, 0f), 1f);
                int[] t = test.get(s);
                for (int p = 1; p < t.length - 1; p++) {
                    int k = t[p] == then ? 0 : 1;
                    count[k]++;
                    hiddenRight[k] += hiddenRouter.argmax(t[p], 0, p) == rule(t, p) ? 1 : 0;
                    tokenRight[k] += tokenRouter.argmax(t[p]) == rule(t, p) ? 1 : 0;
                }
            }
            String report = "on 'then': hidden " + hiddenRight[0] + ", token-only " + tokenRight[0] + " of " + count[0]
                    + "; elsewhere: hidden " + hiddenRight[1] + ", token-only " + tokenRight[1] + " of " + count[1];
            System.out.println(report);
            assertTrue(count[0] >= 20, report);
            assertTrue(hiddenRight[0] >= 0.95 * count[0], report);
            assertTrue(tokenRight[0] <= 0.8 * count[0], report);
            assertTrue(hiddenRight[1] >= 0.95 * count[1], report);

            // In generation the decode loop supplies the states: a prompt ending in "▁if ▁then" decoded token by
            // token gets "7", one ending in "▁for ▁then" gets "▁return".
            assertEquals(seven, generateAfter(hg, emb, ifT));
            assertEquals(ret, generateAfter(hg, emb, forT));
        }
    }

    /**
     * Greedy next token after [bos, 1234, kw, then], each prompt token decoded alone and as an output, so the tracker
     * has every predecessor's state (as generation has for generated tokens).
     */
    static int generateAfter(Gate gate, TokenEmbeddings emb, int keyword) {
        int[] prompt = {tok.bos(), 1234, keyword, then};
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(64).withEmbeddings(true));
             Sampler s = new Sampler(SamplerParams.greedy()); Batch b = new Batch(1)) {
            HiddenStates.Tracker[] tracker = new HiddenStates.Tracker[1];
            LearnedRouter router = new LearnedRouter(gate, emb, (seq, pos) -> tracker[0].at(seq, pos),
                    new SoftTopK(1, 1f, 0f), 1f);
            try (RoutedDecoder d = set.decoder(ctx, router)) {
                tracker[0] = HiddenStates.tracking(ctx, d);
                for (int i = 0; i < prompt.length; i++) {
                    b.clear();
                    b.add(prompt[i], i, 0, true);
                    tracker[0].decode(b);
                }
                return s.sample(ctx, -1);
            }
        }
    }
}
