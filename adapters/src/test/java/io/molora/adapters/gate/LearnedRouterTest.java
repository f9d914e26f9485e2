package io.molora.adapters.gate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.AdapterSpec;
import io.molora.adapters.routers.SoftTopK;
import io.molora.runtime.LlamaException;
import io.molora.runtime.Model;
import io.molora.runtime.ModelParams;
import io.molora.runtime.RouteTable;
import io.molora.runtime.Tokenizer;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A router trained without labels learns the rule its adapters encode. Two token-boost adapters: "math" makes "7"
 * the next token, "code" makes "▁return" the next token. In the corpus, "1"/"2"/"3" are always followed by "7" and
 * "▁if"/"▁for" by "▁return"; everything else is random. The oracle (lowest loss per next token) therefore says:
 * math after a small digit, code after if/for, base elsewhere — and the gate, from token embeddings alone, must learn
 * exactly that, on held-out text too, with a perplexity close to the oracle's.
 */
class LearnedRouterTest {
    @TempDir
    static Path dir;
    static Path modelPath;
    static Model model;
    static Tokenizer tok;
    static List<AdapterSpec> specs;
    static AdapterSet set;
    static int seven;
    static int ret;
    static int[] digits;
    static int[] keywords;

    @BeforeAll
    static void load() throws IOException {
        modelPath = NativeTestSupport.writeTinyModel(dir, 9);
        model = Model.load(modelPath, NativeTestSupport.modelParams());
        tok = model.tokenizer();
        seven = find("7");
        ret = find("▁return");
        digits = new int[] {find("1"), find("2"), find("3")};
        keywords = new int[] {find("▁if"), find("▁for")};
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

    static int find(String text) {
        return NativeTestSupport.tokenId(tok, text);
    }

    /** The expected route of a token by the rule: math after 1/2/3, code after if/for, else none. */
    static int rule(int token) {
        for (int d : digits) {
            if (token == d) {
                return 0;
            }
        }
        for (int k : keywords) {
            if (token == k) {
                return 1;
            }
        }
        return RouteTable.NONE;
    }

    static List<int[]> corpus(long seed, int sequences, int length) {
        Random r = new Random(seed);
        List<int[]> out = new ArrayList<>();
        for (int s = 0; s < sequences; s++) {
            int[] t = new int[length];
            t[0] = tok.bos();
            for (int p = 1; p < length; p++) {
                int prev = t[p - 1];
                if (rule(prev) == 0) {
                    t[p] = seven;
                } else if (rule(prev) == 1) {
                    t[p] = ret;
                } else {
                    int x = r.nextInt(10);
                    t[p] = x < 2 ? digits[r.nextInt(3)] : x < 4 ? keywords[r.nextInt(2)] : 1000 + r.nextInt(300);
                }
            }
            out.add(t);
        }
        return out;
    }

    @Test
    void unlabelledTrainingLearnsTheRuleTheAdaptersEncode() throws IOException {
        List<int[]> train = corpus(1, 12, 48);
        float[][][] lp = RouterTraining.logProbs(model, set, train, m -> { });
        int[][] targets = RouterTraining.oracleTargets(lp);
        // The oracle itself follows the rule (a sanity check of the labelling).
        int agree = 0;
        int total = 0;
        for (int s = 0; s < train.size(); s++) {
            for (int p = 0; p < targets[s].length; p++) {
                agree += targets[s][p] - 1 == rule(train.get(s)[p]) ? 1 : 0;
                total++;
            }
        }
        assertTrue(agree > 0.97 * total, "oracle agrees with the rule on " + agree + "/" + total);

        try (TokenEmbeddings emb = TokenEmbeddings.open(modelPath)) {
            RouterTraining.Dataset d = RouterTraining.dataset(train, targets, emb);
            Gate gate = GateTrainer.train(d.x(), d.y(), d.inputs(), 3, new GateTrainer.Options(16, 40, 32, 1e-2f,
                    1e-4f, 5), e -> { });
            // held-out: routing accuracy against the rule, and perplexity
            List<int[]> test = corpus(2, 6, 48);
            LearnedRouter router = new LearnedRouter(gate, emb, new SoftTopK(1, 1f, 0f), 1f);
            int right = 0;
            int n = 0;
            for (int[] t : test) {
                for (int p = 0; p < t.length - 1; p++) {
                    right += router.argmax(t[p]) == rule(t[p]) ? 1 : 0;
                    n++;
                }
            }
            assertTrue(right > 0.97 * n, "held-out routing accuracy " + right + "/" + n);

            float[][][] testLp = RouterTraining.logProbs(model, set, test, m -> { });
            float[][] learned = RouterTraining.routedLogProbs(model, set, router, test);
            Map<String, Double> ppl = RouterTraining.perplexities(testLp, set.names(), learned);
            System.out.println("held-out perplexity: " + ppl);
            double oracle = ppl.get("oracle-per-token");
            assertTrue(ppl.get("learned-per-token") < 1.2 * oracle, ppl.toString());
            assertTrue(ppl.get("learned-per-token") < 0.5 * ppl.get("base"), ppl.toString());
            assertTrue(ppl.get("learned-per-token") < ppl.get("best-single-per-sequence"), ppl.toString());

            // saved and loaded: same decisions; other adapters or another base are refused
            Path file = dir.resolve("router.gguf");
            RouterFile.save(file, gate, RouterFile.identity(specs, emb));
            Gate loaded = RouterFile.load(file, specs, emb);
            LearnedRouter again = new LearnedRouter(loaded, emb, new SoftTopK(1, 1f, 0f), 1f);
            for (int t = 990; t < 1400; t++) {
                assertEquals(router.argmax(t), again.argmax(t), "token " + t);
            }
            LlamaException swapped = assertThrows(LlamaException.class,
                    () -> RouterFile.load(file, List.of(specs.get(1), specs.get(0)), emb));
            assertTrue(swapped.getMessage().contains("trained for adapters [math, code]"), swapped.getMessage());
            LlamaException renamed = assertThrows(LlamaException.class, () -> RouterFile.load(file,
                    List.of(new AdapterSpec("math", specs.get(1).path(), 1f), specs.get(1)), emb));
            assertTrue(renamed.getMessage().contains("is not the file"), renamed.getMessage());
            Path other = NativeTestSupport.writeTinyModel(dir, 10);
            try (TokenEmbeddings otherEmb = TokenEmbeddings.open(other)) {
                LlamaException base = assertThrows(LlamaException.class, () -> RouterFile.load(file, specs, otherEmb));
                assertTrue(base.getMessage().contains("was trained on a base model with other token embeddings"),
                        base.getMessage());
                // two tiny models of one name: the message does not show the same name as a difference
                assertTrue(base.getMessage().contains("both are named"), base.getMessage());
            }
        }
    }
}
