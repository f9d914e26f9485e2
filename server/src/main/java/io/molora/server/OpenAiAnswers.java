package io.molora.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.engine.Completion;
import io.molora.runtime.TokenLogprobs;
import io.molora.runtime.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The OpenAI answer shapes molora's server writes: a whole {@code chat.completion} / {@code text_completion}, the
 * streamed chunks, usage, log-probabilities and molora's own {@code molora} member (adapter tokens, routes). Pure
 * JSON from a {@link Completion} and its request; the HTTP side ({@link MoloraServer}) only sends them.
 */
public final class OpenAiAnswers {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Tokenizer tokenizer;
    private final List<String> adapterNames;

    OpenAiAnswers(Tokenizer tokenizer, List<String> adapterNames) {
        this.tokenizer = tokenizer;
        this.adapterNames = List.copyOf(adapterNames);
    }

    /** A chunk's envelope: id, object, created, model. */
    ObjectNode chunkBase(ApiRequest ar, String id) {
        return JSON.createObjectNode().put("id", id)
                .put("object", ar.chat() ? "chat.completion.chunk" : "text_completion")
                .put("created", System.currentTimeMillis() / 1000).put("model", ar.model());
    }

    /** A streamed chunk with one choice: a chat's {@code delta} (an ObjectNode) or a completion's text. */
    ObjectNode chunk(ApiRequest ar, String id, Object content, String finish) {
        ObjectNode c = chunkBase(ar, id);
        ObjectNode choice = c.putArray("choices").addObject().put("index", 0);
        if (content instanceof ObjectNode delta) {
            choice.set("delta", delta);
        } else {
            choice.put("text", (String) content);
        }
        choice.putNull("logprobs");
        if (finish == null) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", finish);
        }
        return c;
    }

    /** The whole answer of a request that was not streamed. */
    ObjectNode whole(ApiRequest ar, Completion c) {
        ObjectNode r = JSON.createObjectNode().put("id", c.request().id())
                .put("object", ar.chat() ? "chat.completion" : "text_completion")
                .put("created", System.currentTimeMillis() / 1000).put("model", ar.model());
        ObjectNode choice = r.putArray("choices").addObject().put("index", 0);
        if (ar.chat()) {
            choice.putObject("message").put("role", "assistant").put("content", c.text());
        } else {
            choice.put("text", c.text());
        }
        if (ar.logprobs()) {
            choice.set("logprobs", logprobs(ar, c.routes(), 0));
        } else {
            choice.putNull("logprobs");
        }
        choice.put("finish_reason", finish(c));
        r.set("usage", usage(c));
        ObjectNode m = r.putObject("molora");
        m.set("adapter_tokens", JSON.valueToTree(c.adapterTokens()));
        if (ar.showRoutes()) {
            m.set("routes", routes(c.routes(), adapterNames));
        }
        return r;
    }

    private static String finish(Completion c) {
        return switch (c.stopReason()) {
            case END_OF_GENERATION, STOP_STRING -> "stop";
            case MAX_TOKENS, CONTEXT_FULL -> "length";
            case CANCELLED -> "cancelled";
        };
    }

    /** OpenAI's {@code usage}: prompt, completion and total tokens (also {@code complete}'s result records). */
    public static ObjectNode usage(Completion c) {
        return JSON.createObjectNode().put("prompt_tokens", c.promptTokens())
                .put("completion_tokens", c.completionTokens())
                .put("total_tokens", c.promptTokens() + c.completionTokens());
    }

    /**
     * The pieces' log-probabilities in OpenAI's form: a chat's {@code {"content": [{token, logprob, bytes,
     * top_logprobs: [{token, logprob, bytes}]}], "refusal": null}}, a completion's {@code {tokens, token_logprobs,
     * top_logprobs: [{token: logprob}], text_offset}} with offsets (in characters, as Python counts them) from
     * {@code offset}. A token is its piece of the text; an alternative, its vocabulary entry's text.
     */
    ObjectNode logprobs(ApiRequest ar, List<Completion.TokenRoute> pieces, int offset) {
        ObjectNode lp = JSON.createObjectNode();
        if (ar.chat()) {
            ArrayNode content = lp.putArray("content");
            for (Completion.TokenRoute p : pieces) {
                TokenLogprobs t = p.logprobs();
                ObjectNode entry = tokenLogprob(content.addObject(), p.text(), t.chosen());
                ArrayNode top = entry.putArray("top_logprobs");
                for (int i = 0; i < t.size(); i++) {
                    tokenLogprob(top.addObject(), piece(t.topIds()[i]), t.top()[i]);
                }
            }
            lp.putNull("refusal");
        } else {
            ArrayNode tokens = lp.putArray("tokens");
            ArrayNode values = lp.putArray("token_logprobs");
            ArrayNode tops = lp.putArray("top_logprobs");
            ArrayNode offsets = lp.putArray("text_offset");
            for (Completion.TokenRoute p : pieces) {
                TokenLogprobs t = p.logprobs();
                tokens.add(p.text());
                values.add(t.chosen());
                ObjectNode top = tops.addObject();
                for (int i = 0; i < t.size(); i++) {
                    String alternative = piece(t.topIds()[i]);
                    if (!top.has(alternative)) {  // the most likely of those sharing a text
                        top.put(alternative, t.top()[i]);
                    }
                }
                offsets.add(offset);
                offset += p.text().codePointCount(0, p.text().length());
            }
        }
        return lp;
    }

    private static ObjectNode tokenLogprob(ObjectNode o, String token, float logprob) {
        o.put("token", token).put("logprob", logprob);
        ArrayNode bytes = o.putArray("bytes");
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b & 0xff);
        }
        return o;
    }

    /** A vocabulary entry's text (a partial UTF-8 character shows as U+FFFD). */
    private String piece(int token) {
        return new String(tokenizer.pieceBytes(token, false), StandardCharsets.UTF_8);
    }

    /** Each token's text and adapters, name or name:weight ({@code complete --show-routes} writes the same). */
    public static ArrayNode routes(List<Completion.TokenRoute> pieces, List<String> names) {
        ArrayNode list = JSON.createArrayNode();
        for (Completion.TokenRoute t : pieces) {
            ArrayNode used = JSON.createArrayNode();
            t.route().labels(names).forEach(used::add);
            list.addObject().put("token", t.text()).set("adapters", used);
        }
        return list;
    }

    /** A streamed chunk of generated text: its pieces joined, their log-probabilities and routes when asked. */
    ObjectNode textChunk(ApiRequest ar, String id, List<Completion.TokenRoute> pieces, int offset) {
        StringBuilder text = new StringBuilder();
        pieces.forEach(p -> text.append(p.text()));
        ObjectNode c = ar.chat()
                ? chunk(ar, id, JSON.createObjectNode().put("content", text.toString()), null)
                : chunk(ar, id, text.toString(), null);
        if (ar.logprobs()) {
            ((ObjectNode) c.get("choices").get(0)).set("logprobs", logprobs(ar, pieces, offset));
        }
        if (ar.showRoutes()) {
            c.putObject("molora").set("routes", routes(pieces, adapterNames));
        }
        return c;
    }

    /** The last chunk of a finished stream: no text, the finish reason, the adapter tokens. */
    ObjectNode lastChunk(ApiRequest ar, String id, Completion c) {
        ObjectNode last = ar.chat() ? chunk(ar, id, JSON.createObjectNode(), finish(c)) : chunk(ar, id, "", finish(c));
        last.putObject("molora").set("adapter_tokens", JSON.valueToTree(c.adapterTokens()));
        return last;
    }

    /** The chunk after the last that {@code stream_options.include_usage} asks for: no choices, the usage. */
    ObjectNode usageChunk(ApiRequest ar, String id, Completion c) {
        ObjectNode u = chunkBase(ar, id);
        u.putArray("choices");
        u.set("usage", usage(c));
        return u;
    }
}
