package io.molora.engine;

import io.molora.adapters.routers.MixedRouter;
import io.molora.adapters.routers.SlotRouter;
import io.molora.runtime.ChatTemplate;
import io.molora.runtime.Context;
import io.molora.runtime.GeneratedToken;
import io.molora.runtime.Generator;
import io.molora.runtime.Router;
import io.molora.runtime.Sampler;
import io.molora.runtime.StopReason;
import io.molora.runtime.TokenStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * A conversation whose KV cache holds the chat so far: each turn formats the whole chat with the template, keeps the
 * cached tokens it shares with it, and prefills only the rest — also after switching adapters, which only changes the
 * routes of the tokens still to come. Adapters: a fixed mix, or the engine's token router (sequence 0 of a
 * {@link MixedRouter}); a router that reads hidden states gets a base pass over the conversation each turn.
 */
public final class ChatSession implements AutoCloseable {
    private final Engine engine;
    private final Context context;
    private final Sampler sampler;
    private final DecodePath path;
    private final Generator generator;
    private final ChatTemplate template;
    private final int maxTokens;
    private final List<String> names;
    private final SlotRouter fixed;
    private final MixedRouter mixed;
    private final Router router;
    private final List<ChatTemplate.Message> messages = new ArrayList<>();
    private AdapterMix mix = AdapterMix.none();
    private int[] cache = new int[0];
    /** The formatted text the cached tokens stand for (null: unknown, match by tokens). */
    private String cacheText;

    ChatSession(Engine engine, ChatSettings settings) {
        this.engine = engine;
        this.names = engine.adapterNames();
        this.maxTokens = settings.maxTokens();
        Context ctx = Context.create(engine.model(), engine.contextParams());
        Sampler s = null;
        DecodePath p = null;
        try {
            s = new Sampler(settings.sampling());
            this.template = settings.template().map(ChatTemplate::named).orElseGet(() -> ChatTemplate.of(engine.model()));
            if (names.isEmpty()) {
                settings.adapters().ifPresent(m -> m.ids(names));  // a mix of adapters that are not loaded: refused
                fixed = null;
                mixed = null;
                router = null;
            } else {
                fixed = new SlotRouter(1, names.size());
                Router tokens = engine.routing().router();
                mixed = tokens == null ? null : new MixedRouter(tokens, fixed, 1);
                if (mixed != null) {
                    mixed.start(0, settings.adapters().isPresent());
                }
                useMix(settings.adapters().orElse(AdapterMix.all(names)));
                router = mixed != null ? mixed : fixed;
            }
            p = engine.decodePath(ctx, router, false);
            this.generator = new Generator(ctx, s, 0, p.decoder());
        } catch (RuntimeException e) {
            if (p != null) {
                p.close();
            }
            if (s != null) {
                s.close();
            }
            ctx.close();
            throw e;
        }
        this.context = ctx;
        this.sampler = s;
        this.path = p;
        settings.systemPrompt().ifPresent(text -> messages.add(new ChatTemplate.Message("system", text)));
    }

    public ChatTemplate template() {
        return template;
    }

    public List<String> adapterNames() {
        return names;
    }

    /** The fixed mix (what the replies use unless {@link #routedPerToken()}). */
    public AdapterMix mix() {
        return mix;
    }

    /** Whether the replies are routed per token by the engine's token router (not a fixed mix). */
    public boolean routedPerToken() {
        return mixed != null && !mixed.usesFixed(0);
    }

    /** The next replies use this fixed mix (the cache is kept). */
    public void useAdapters(AdapterMix m) {
        useMix(m);
        if (mixed != null) {
            mixed.useFixed(0, true);
        }
    }

    /** The next replies are routed per token again; false when the engine has no token router. */
    public boolean useTokenRouter() {
        if (mixed == null) {
            return false;
        }
        mixed.useFixed(0, false);
        return true;
    }

    private void useMix(AdapterMix m) {
        fixed.set(0, m.ids(names), m.weightArray());
        mix = m;
    }

    public List<ChatTemplate.Message> messages() {
        return List.copyOf(messages);
    }

    public Optional<String> systemPrompt() {
        return hasSystem() ? Optional.of(messages.get(0).content()) : Optional.empty();
    }

    public void systemPrompt(String text) {
        ChatTemplate.Message m = new ChatTemplate.Message("system", text);
        if (hasSystem()) {
            messages.set(0, m);
        } else {
            messages.add(0, m);
        }
    }

    private boolean hasSystem() {
        return !messages.isEmpty() && messages.get(0).role().equals("system");
    }

    /** Forgets the conversation (keeps the system prompt) and empties the cache. */
    public void reset() {
        ChatTemplate.Message system = hasSystem() ? messages.get(0) : null;
        messages.clear();
        if (system != null) {
            messages.add(system);
        }
        context.removeTokens(0, 0, -1);
        cache = new int[0];
        cacheText = null;
        sampler.reset();
    }

    /**
     * One turn: the user's message, then the reply streamed to {@code sink} until the model ends its turn, the token
     * limit, a full context, or {@code stop} (checked between tokens; the reply so far is kept).
     */
    public ChatTurn send(String userText, Consumer<GeneratedToken> sink, BooleanSupplier stop) {
        messages.add(new ChatTemplate.Message("user", userText));
        int[] tokens;
        String promptText;
        try {
            promptText = template.apply(messages, true);
            try {
                engine.refuseUntokenizable(promptText, context.contextSize() + 1, "the context", "");
            } catch (PromptTooLongException e) {
                // far too long to tokenize (a paste of megabytes): refused by its characters, at once
                messages.remove(messages.size() - 1);
                return new ChatTurn.TooLong(-1, context.contextSize());
            }
            if (cacheText != null && promptText.startsWith(cacheText)) {
                // the cache holds exactly the text so far (the reply as generated): add only the new text's tokens
                int[] delta = engine.model().tokenizer().tokenize(promptText.substring(cacheText.length()), false, true);
                tokens = Arrays.copyOf(cache, cache.length + delta.length);
                System.arraycopy(delta, 0, tokens, cache.length, delta.length);
            } else {
                tokens = engine.tokenize(promptText);
            }
        } catch (RuntimeException e) {
            messages.remove(messages.size() - 1);
            throw e;
        }
        if (tokens.length + 1 > context.contextSize()) {
            messages.remove(messages.size() - 1);
            return new ChatTurn.TooLong(tokens.length, context.contextSize());
        }
        // keep the cached prefix this prompt shares, prefill the rest
        int common = 0;
        while (common < cache.length && common < tokens.length && cache[common] == tokens[common]) {
            common++;
        }
        common = Math.min(common, tokens.length - 1);
        if (routedPerToken()) {
            // a request router chooses this turn's adapter over the whole conversation: a prefix decoded with another
            // adapter is not kept
            if (engine.routing().startSequence(0, tokens)) {
                common = 0;
            }
        } else {
            engine.routing().skipSequence(0);  // a fixed mix: the router's base pass would be for nothing
        }
        context.removeTokens(0, common, -1);
        int[] fresh = Arrays.copyOfRange(tokens, common, tokens.length);
        Map<String, Integer> routes = new LinkedHashMap<>();
        StringBuilder reply = new StringBuilder();
        List<Integer> generated = new ArrayList<>();
        List<String> pieces = new ArrayList<>();
        long t1;
        StopReason reason;
        int decodedUpTo;
        try (TokenStream stream = generator.start(fresh, common, maxTokens)) {
            t1 = System.nanoTime();
            while (stream.hasNext() && !stop.getAsBoolean()) {
                GeneratedToken t = stream.next();
                generated.add(t.id());
                pieces.add(t.text());
                if (path.routed() && stream.hasNext()) {  // decoded: its route is the last decode's
                    Route.used(path.lastRoutes(), 0).countInto(routes, names);
                }
                reply.append(t.text());
                sink.accept(t);
            }
            stream.close();
            reason = stream.stopReason();
            decodedUpTo = stream.nextPosition();
        }
        long t2 = System.nanoTime();
        // the cache now holds the prompt and the generated tokens that were decoded
        int[] now = Arrays.copyOf(tokens, decodedUpTo);
        for (int i = tokens.length; i < decodedUpTo; i++) {
            now[i] = generated.get(i - tokens.length);
        }
        cache = now;
        StringBuilder decodedText = new StringBuilder(promptText);
        for (int i = 0; i < decodedUpTo - tokens.length; i++) {
            decodedText.append(pieces.get(i));
        }
        cacheText = decodedText.toString();
        messages.add(new ChatTemplate.Message("assistant", reply.toString()));
        return new ChatTurn.Reply(reply.toString(), fresh.length, common, generated.size(), (t2 - t1) / 1e9, reason,
                routes);
    }

    @Override
    public void close() {
        try {
            generator.close();
            path.close();
        } finally {
            sampler.close();
            context.close();
        }
    }
}
