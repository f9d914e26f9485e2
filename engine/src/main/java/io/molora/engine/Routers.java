package io.molora.engine;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.gate.Gate;
import io.molora.adapters.gate.LearnedRouter;
import io.molora.adapters.gate.RequestRouter;
import io.molora.adapters.gate.RouterFile;
import io.molora.adapters.gate.TokenEmbeddings;
import io.molora.adapters.routers.FixedMixRouter;
import io.molora.adapters.routers.FixedRouter;
import io.molora.adapters.routers.PerSequenceRouter;
import io.molora.adapters.routers.TokenListRouter;
import io.molora.adapters.vocab.VocabRouter;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Model;
import io.molora.runtime.Router;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;

/** The one factory of routers: a {@link RouterSpec} over a loaded model and adapter set. */
public final class Routers {
    private Routers() {}

    /**
     * Builds the router of {@code spec} for {@code model} and {@code adapters} (null: none loaded). Router files are
     * read and checked against the model and adapters now; what the routing holds open is closed with it. A gate that
     * reads hidden states runs its base passes with the threads of {@code params} (the decode loop's).
     *
     * @throws IllegalArgumentException when the spec needs adapters and there are none, or names one not loaded
     */
    public static Routing create(RouterSpec spec, Model model, AdapterSet adapters, ContextParams params) {
        if (spec.needsAdapters() && adapters == null) {
            throw new IllegalArgumentException(spec.describe() + " needs the adapters it routes to");
        }
        return switch (spec) {
            case RouterSpec.Base b -> new Routing(spec, null, adapters, null, null);
            case RouterSpec.Fixed f -> new Routing(spec, new FixedRouter(adapters.index(f.adapter()), 1f), adapters,
                    null, null);
            case RouterSpec.AllAdapters a -> new Routing(spec, allAdapters(adapters.size()), adapters, null, null);
            case RouterSpec.PerSequence p -> {
                Map<Integer, Integer> ids = new HashMap<>();
                p.adapterBySequence().forEach((s, name) -> ids.put(s, adapters.index(name)));
                yield new Routing(spec, new PerSequenceRouter(ids), adapters, null, null);
            }
            case RouterSpec.TokenList t -> new Routing(spec, new TokenListRouter(t.routesBySequence()), adapters, null,
                    null);
            case RouterSpec.Vocabulary v -> {
                try {
                    yield new Routing(spec, VocabRouter.load(v.file(), model.tokenizer(), adapters.names()), adapters,
                            null, null);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read routes file " + v.file() + ": " + e.getMessage(), e);
                }
            }
            case RouterSpec.Learned l -> learned(l, model, adapters, params);
        };
    }

    /** Every token to every adapter at weight 1 (the adapters' scales apply on top). */
    static Router allAdapters(int n) {
        int[] ids = new int[n];
        float[] weights = new float[n];
        for (int i = 0; i < n; i++) {
            ids[i] = i;
            weights[i] = 1f;
        }
        return new FixedMixRouter(ids, weights);
    }

    /** The gate over this model's token embeddings; with hidden-state features, fed by the routing's states. */
    private static Routing learned(RouterSpec.Learned spec, Model model, AdapterSet adapters, ContextParams params) {
        TokenEmbeddings emb;
        try {
            emb = TokenEmbeddings.open(model.path());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + model.path() + ": " + e.getMessage(), e);
        }
        try {
            Gate gate = RouterFile.load(spec.file(), adapters.specs(), emb);
            RouterFile.Loaded file = RouterFile.read(spec.file());
            String features = file.identity().features();
            float bonus = (float) spec.switchBonus().orElse(file.switchBonus());
            if (features.equals(RouterFile.FEATURES_REQUEST)) {
                // one adapter per request, from a base pass over its prompt
                return new Routing(spec, new RequestRouter(gate, emb.dim()), adapters,
                        new HiddenStateFeed(model, params), emb);
            }
            if (features.equals(RouterFile.FEATURES_TOKEN_HIDDEN)) {
                HiddenStateFeed feed = new HiddenStateFeed(model, params);
                return new Routing(spec, new LearnedRouter(gate, emb, feed, spec.decision().create(), 1f, bonus),
                        adapters, feed, emb);
            }
            return new Routing(spec, new LearnedRouter(gate, emb, null, spec.decision().create(), 1f, bonus), adapters,
                    null, emb);
        } catch (IOException e) {
            emb.close();
            throw new UncheckedIOException("cannot read " + spec.file() + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            emb.close();
            throw e;
        }
    }
}
