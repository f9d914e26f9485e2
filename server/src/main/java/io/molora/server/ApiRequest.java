package io.molora.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.molora.engine.AdapterMix;
import io.molora.engine.CompletionRequest;
import io.molora.engine.Prompt;
import io.molora.runtime.ChatTemplate;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.TokenLogprobs;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A {@code /v1/completions} or {@code /v1/chat/completions} body, checked field by field: what the engine runs, and
 * how to answer. Fields OpenAI defines that molora does not support are refused when they ask for something other
 * than their default (400 naming the field); fields nobody defines are ignored, as OpenAI's newer fields would be.
 */
record ApiRequest(boolean chat, String model, CompletionRequest completion, boolean stream, boolean includeUsage,
        boolean showRoutes) {
    /** Whether every token's log-probabilities go with the answer. */
    boolean logprobs() {
        return completion.logprobs() >= 0;
    }

    /** The models this server answers to. */
    record Models(String base, List<String> adapters, boolean auto) {
        static final String AUTO = "auto";

        /** What {@code model} routes by: a fixed mix (the base: none), or empty for the router. */
        Optional<AdapterMix> mix(String model) {
            if (model.equals(base)) {
                return Optional.of(AdapterMix.none());
            }
            if (adapters.contains(model)) {
                return Optional.of(new AdapterMix(Map.of(model, 1f)));
            }
            if (auto && model.equals(AUTO)) {
                return Optional.empty();
            }
            throw ApiError.notFound("model", "model_not_found", "The model '" + model + "' does not exist (models: "
                    + String.join(", ", all()) + ")");
        }

        List<String> all() {
            List<String> ids = new ArrayList<>();
            ids.add(base);
            ids.addAll(adapters);
            if (auto) {
                ids.add(AUTO);
            }
            return ids;
        }

        String defaultModel() {
            return auto ? AUTO : base;
        }
    }

    static ApiRequest parse(JsonNode body, boolean chat, Models models, ServerConfig config, String id) {
        if (body == null || !body.isObject()) {
            throw ApiError.badRequest(null, "the request body must be a JSON object");
        }
        unsupported(body, chat);
        String model = body.hasNonNull("model") ? text(body, "model") : models.defaultModel();
        Optional<AdapterMix> mix = models.mix(model);
        boolean showRoutes = false;
        JsonNode molora = body.get("molora");
        if (molora != null && !molora.isNull()) {
            if (!molora.isObject()) {
                throw ApiError.badRequest("molora", "molora must be an object");
            }
            for (Iterator<String> it = molora.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!f.equals("adapters") && !f.equals("show_routes")) {
                    throw ApiError.badRequest("molora." + f, "unknown field molora." + f
                            + " (molora takes adapters and show_routes)");
                }
            }
            showRoutes = bool(molora, "show_routes", "molora.show_routes", false);
            JsonNode adapters = molora.get("adapters");
            if (adapters != null && !adapters.isNull()) {
                mix = Optional.of(mix(adapters, models));
            }
        }
        Prompt prompt = chat ? new Prompt.Chat(messages(body)) : new Prompt.Text(prompt(body));
        int maxTokens = config.maxTokens();
        String maxField = chat && body.hasNonNull("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        if (body.hasNonNull(maxField)) {
            JsonNode n = body.get(maxField);
            if (!n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() < 0) {
                throw ApiError.badRequest(maxField, maxField + " must be an integer >= 0, got " + n);
            }
            maxTokens = n.asInt();
        }
        SamplerParams d = config.sampling();
        float temperature = number(body, "temperature", 0, 2, d.temperature());
        float topP = number(body, "top_p", 0, 1, d.topP());
        if (topP == 0f) {
            throw ApiError.badRequest("top_p", "top_p must be in (0, 1], got 0");
        }
        float minP = number(body, "min_p", 0, 0.999999, d.minP());
        int topK = d.topK();
        if (body.hasNonNull("top_k")) {
            JsonNode n = body.get("top_k");
            if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 0) {
                throw ApiError.badRequest("top_k", "top_k must be an integer >= 0, got " + n);
            }
            topK = n.asInt();
        }
        long seed = d.seed();
        if (body.hasNonNull("seed")) {
            JsonNode n = body.get("seed");
            if (!n.isIntegralNumber() || !n.canConvertToLong() || n.asLong() < 0 || n.asLong() > 0xFFFF_FFFEL) {
                throw ApiError.badRequest("seed", "seed must be an integer in [0, 4294967294], got " + n);
            }
            seed = n.asLong();
        }
        SamplerParams sampling = new SamplerParams(temperature, topK, topP, minP, seed);
        boolean stream = bool(body, "stream", "stream", false);
        boolean includeUsage = false;
        JsonNode so = body.get("stream_options");
        if (so != null && !so.isNull()) {
            if (!so.isObject()) {
                throw ApiError.badRequest("stream_options", "stream_options must be an object");
            }
            if (!stream) {
                throw ApiError.badRequest("stream_options", "stream_options is only allowed when stream is true");
            }
            includeUsage = bool(so, "include_usage", "stream_options.include_usage", false);
        }
        return new ApiRequest(chat, model, new CompletionRequest(id, prompt, maxTokens, sampling, mix, stop(body),
                logprobs(body, chat)), stream, includeUsage, showRoutes);
    }

    /** OpenAI fields molora does not do: refused unless they hold their default. */
    private static void unsupported(JsonNode body, boolean chat) {
        JsonNode n = body.get("n");
        if (n != null && !n.isNull() && !(n.isIntegralNumber() && n.asLong() == 1)) {
            throw ApiError.badRequest("n", "n must be 1: molora returns one choice per request");
        }
        JsonNode bestOf = body.get("best_of");
        if (bestOf != null && !bestOf.isNull() && !(bestOf.isIntegralNumber() && bestOf.asLong() == 1)) {
            throw ApiError.badRequest("best_of", "best_of is not supported (only 1)");
        }
        for (String f : List.of("echo", "suffix", "tools", "functions", "tool_choice",
                "function_call", "logit_bias", "audio", "modalities", "prediction", "response_format")) {
            JsonNode v = body.get(f);
            boolean isDefault = v == null || v.isNull() || (v.isBoolean() && !v.asBoolean())
                    || (f.equals("logit_bias") && v.isObject() && v.isEmpty())
                    || ((f.equals("tools") || f.equals("functions")) && v.isArray() && v.isEmpty())
                    || (f.equals("tool_choice") && v.isTextual() && v.asText().equals("none"))
                    || (f.equals("response_format") && v.isObject() && v.path("type").asText().equals("text"))
                    || (f.equals("modalities") && v.isArray() && v.size() == 1 && v.get(0).asText().equals("text"));
            if (!isDefault) {
                throw ApiError.badRequest(f, f + " is not supported by molora");
            }
        }
        for (String f : List.of("presence_penalty", "frequency_penalty")) {
            JsonNode v = body.get(f);
            if (v != null && !v.isNull() && !(v.isNumber() && v.asDouble() == 0)) {
                throw ApiError.badRequest(f, f + " is not supported by molora (only 0)");
            }
        }
    }

    /**
     * How many alternatives each token's log-probabilities list, -1 for none: a completion's {@code logprobs} (an
     * integer, the alternatives; the chosen token's always comes too), a chat's {@code logprobs: true} with
     * {@code top_logprobs} alternatives.
     */
    private static int logprobs(JsonNode body, boolean chat) {
        JsonNode lp = body.get("logprobs");
        if (!chat) {
            return lp == null || lp.isNull() ? -1 : alternatives(lp, "logprobs");
        }
        boolean on = bool(body, "logprobs", "logprobs", false);
        JsonNode top = body.get("top_logprobs");
        if (top == null || top.isNull()) {
            return on ? 0 : -1;
        }
        int n = alternatives(top, "top_logprobs");
        if (!on) {
            throw ApiError.badRequest("top_logprobs", "top_logprobs needs logprobs: true");
        }
        return n;
    }

    private static int alternatives(JsonNode n, String field) {
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 0 || n.asInt() > TokenLogprobs.MAX_TOP) {
            throw ApiError.badRequest(field, field + " must be an integer from 0 to " + TokenLogprobs.MAX_TOP + ", got " + n);
        }
        return n.asInt();
    }

    private static AdapterMix mix(JsonNode adapters, Models models) {
        if (!adapters.isObject()) {
            throw ApiError.badRequest("molora.adapters", "molora.adapters must be an object of adapter names to weights,"
                    + " e.g. {\"code\": 0.7, \"math\": 0.3}");
        }
        Map<String, Float> weights = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = adapters.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!models.adapters().contains(e.getKey())) {
                throw ApiError.badRequest("molora.adapters", "no adapter named '" + e.getKey() + "' (adapters: "
                        + (models.adapters().isEmpty() ? "none" : String.join(", ", models.adapters())) + ")");
            }
            JsonNode w = e.getValue();
            if (!w.isNumber() || !Double.isFinite(w.asDouble()) || Math.abs(w.asDouble()) > 1e4) {
                throw ApiError.badRequest("molora.adapters", "the weight of '" + e.getKey()
                        + "' must be a finite number within +-1e4, got " + w);
            }
            weights.put(e.getKey(), (float) w.asDouble());
        }
        return new AdapterMix(weights);
    }

    private static String prompt(JsonNode body) {
        JsonNode p = body.get("prompt");
        if (p == null || p.isNull()) {
            throw ApiError.badRequest("prompt", "prompt is required");
        }
        if (p.isTextual()) {
            return p.asText();
        }
        if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
            return p.get(0).asText();
        }
        if (p.isArray() && p.size() > 1 && p.get(0).isTextual()) {
            throw ApiError.badRequest("prompt", "prompt must be one string: molora completes one prompt per request");
        }
        throw ApiError.badRequest("prompt", "prompt must be a string (token arrays are not supported)");
    }

    private static List<ChatTemplate.Message> messages(JsonNode body) {
        JsonNode ms = body.get("messages");
        if (ms == null || ms.isNull()) {
            throw ApiError.badRequest("messages", "messages is required");
        }
        if (!ms.isArray() || ms.isEmpty()) {
            throw ApiError.badRequest("messages", "messages must be a non-empty array");
        }
        List<ChatTemplate.Message> out = new ArrayList<>();
        for (int i = 0; i < ms.size(); i++) {
            String at = "messages[" + i + "]";
            JsonNode m = ms.get(i);
            if (!m.isObject()) {
                throw ApiError.badRequest(at, at + " must be an object with role and content");
            }
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual()) {
                throw ApiError.badRequest(at + ".role", at + ".role must be a string");
            }
            String r = role.asText();
            if (r.equals("developer")) {
                r = "system";  // OpenAI's newer name for the system message
            }
            if (!r.equals("system") && !r.equals("user") && !r.equals("assistant")) {
                throw ApiError.badRequest(at + ".role", at + ".role must be system, developer, user or assistant, got '"
                        + role.asText() + "'");
            }
            out.add(new ChatTemplate.Message(r, content(m.get("content"), at + ".content")));
        }
        return out;
    }

    /** A message's content: a string, or an array of text parts (joined). */
    private static String content(JsonNode c, String at) {
        if (c == null || c.isNull()) {
            throw ApiError.badRequest(at, at + " is required");
        }
        if (c.isTextual()) {
            return c.asText();
        }
        if (c.isArray()) {
            StringBuilder s = new StringBuilder();
            for (JsonNode part : c) {
                if (!part.isObject() || !part.path("type").asText().equals("text") || !part.path("text").isTextual()) {
                    throw ApiError.badRequest(at, at + ": only text parts ({\"type\": \"text\", \"text\": ...}) are supported");
                }
                s.append(part.get("text").asText());
            }
            return s.toString();
        }
        throw ApiError.badRequest(at, at + " must be a string or an array of text parts");
    }

    private static List<String> stop(JsonNode body) {
        JsonNode s = body.get("stop");
        if (s == null || s.isNull()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        if (s.isTextual()) {
            out.add(s.asText());
        } else if (s.isArray()) {
            for (JsonNode e : s) {
                if (!e.isTextual()) {
                    throw ApiError.badRequest("stop", "stop must be a string or an array of strings");
                }
                out.add(e.asText());
            }
        } else {
            throw ApiError.badRequest("stop", "stop must be a string or an array of strings");
        }
        if (out.size() > CompletionRequest.MAX_STOP_STRINGS) {
            throw ApiError.badRequest("stop", "at most " + CompletionRequest.MAX_STOP_STRINGS + " stop strings, got "
                    + out.size());
        }
        if (out.stream().anyMatch(String::isEmpty)) {
            throw ApiError.badRequest("stop", "a stop string is empty");
        }
        return out;
    }

    private static String text(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (!v.isTextual()) {
            throw ApiError.badRequest(field, field + " must be a string, got " + v);
        }
        return v.asText();
    }

    private static boolean bool(JsonNode body, String field, String param, boolean dflt) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw ApiError.badRequest(param, param + " must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    private static float number(JsonNode body, String field, double min, double max, float dflt) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isNumber() || !(v.asDouble() >= min && v.asDouble() <= max)) {
            throw ApiError.badRequest(field, field + " must be a number in [" + fmt(min) + ", " + fmt(max) + "], got "
                    + v);
        }
        return (float) v.asDouble();
    }

    private static String fmt(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }
}
