package io.molora.adapters.vocab;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A vocabulary-routing config: rules that route a token by what it is, checked in file order, first match wins.
 *
 * <pre>{@code
 * {
 *   "default": "none",                                   // adapter for tokens no rule matches (default: none)
 *   "rules": [
 *     {"adapter": "vision", "ids": [[32000, 32767], 5]},  // token ids: single ids and inclusive [from, to] ranges
 *     {"adapter": "math",   "piece": "^\\s*[0-9]+$"},    // regex (find) over the token's text, e.g. " 42"
 *     {"adapter": "names",  "token_text": "^▁[A-Z]"},     // regex (find) over the vocabulary entry, e.g. "▁The"
 *     {"adapter": "code",   "span": {"open": "```", "close": "```"}},  // everything between delimiters
 *     {"adapter": "img",    "input": "embedding"},        // input kind: "token" or "embedding"
 *     {"adapter": "math",   "piece": "[=+]", "weight": 0.5}
 *   ]
 * }
 * }</pre>
 *
 * <p>Span delimiters are text (matched across token boundaries: "``" + "`" opens a span too) or token ids (for
 * special tokens such as {@code <image>}). With {@code "delimiters": "include"} (the default) the tokens holding the
 * delimiters belong to the span; with {@code "exclude"} only the tokens strictly between them. Comments
 * ({@code //}, {@code /* *}{@code /}) are allowed. Every error names the line and column and the problem.
 */
public final class VocabConfig {
    /** Line and column (1-based) of a value in the file. */
    public record Where(int line, int column) {}

    public enum InputKind { TOKEN, EMBEDDING }

    /** What a rule matches. */
    public sealed interface Condition permits Ids, PieceRegex, TokenTextRegex, Span, Input {}

    /** Inclusive id ranges, as pairs {@code [from0, to0, from1, to1, ...]}. */
    public record Ids(int[] ranges) implements Condition {}

    public record PieceRegex(Pattern pattern) implements Condition {}

    public record TokenTextRegex(Pattern pattern) implements Condition {}

    /** A delimiter: text ({@code id == -1}) or one token id ({@code text == null}). */
    public record Delimiter(String text, int id, Where where) {}

    public record Span(Delimiter open, Delimiter close, boolean includeDelimiters) implements Condition {}

    public record Input(InputKind kind) implements Condition {}

    /** One rule: the adapter (a name, "none" or "base") and weight for the tokens its condition matches. */
    public record Rule(String adapter, float weight, Condition condition, Where where, Where adapterWhere) {}

    /** Most rules per config (a token's matches are one bit per rule in a long). */
    public static final int MAX_RULES = 64;
    /** Most span rules per config (span state is one bit per span in an int). */
    public static final int MAX_SPANS = 31;

    private final String source;
    private final String defaultAdapter;
    private final Where defaultWhere;
    private final List<Rule> rules;

    private VocabConfig(String source, String defaultAdapter, Where defaultWhere, List<Rule> rules) {
        this.source = source;
        this.defaultAdapter = defaultAdapter;
        this.defaultWhere = defaultWhere;
        this.rules = List.copyOf(rules);
    }

    public String source() {
        return source;
    }

    public String defaultAdapter() {
        return defaultAdapter;
    }

    public Where defaultWhere() {
        return defaultWhere;
    }

    public List<Rule> rules() {
        return rules;
    }

    /** An error at {@code where} in this config. */
    VocabConfigException error(Where where, String problem) {
        return new VocabConfigException(source, where.line(), where.column(), problem);
    }

    public static VocabConfig load(Path file) throws IOException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(file.toString(), null, "routes file not found");
        }
        return parse(text, file.getFileName().toString());
    }

    /** Parses config text; {@code source} names it in error messages. */
    public static VocabConfig parse(String json, String source) {
        Node root;
        JsonFactory factory = JsonFactory.builder().enable(JsonReadFeature.ALLOW_JAVA_COMMENTS).build();
        try (JsonParser p = factory.createParser(json)) {
            JsonToken first = p.nextToken();
            if (first == null) {
                throw new VocabConfigException(source, 1, 1, "the file is empty (expected a JSON object)");
            }
            root = read(p, source);
            JsonToken extra = p.nextToken();
            if (extra != null) {
                Where w = where(p.currentTokenLocation());
                throw new VocabConfigException(source, w.line(), w.column(), "unexpected content after the config object");
            }
        } catch (JsonProcessingException e) {
            JsonLocation loc = e.getLocation();
            Where w = loc == null ? new Where(1, 1) : where(loc);
            throw new VocabConfigException(source, w.line(), w.column(), "malformed JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new VocabConfigException(source, 1, 1, "cannot read: " + e.getMessage());
        }
        return new Builder(source).build(root);
    }

    // ---- a JSON tree that remembers where each value is ----

    private sealed interface Node permits Obj, Arr, Scalar {
        Where where();
    }

    private record Obj(Map<String, Node> fields, Map<String, Where> keys, Where where) implements Node {}

    private record Arr(List<Node> items, Where where) implements Node {}

    /** A string, number, boolean or null; {@code token} says which. */
    private record Scalar(JsonToken token, String text, Number number, Where where) implements Node {}

    private static Where where(JsonLocation loc) {
        return new Where(Math.max(1, loc.getLineNr()), Math.max(1, loc.getColumnNr()));
    }

    private static Node read(JsonParser p, String source) throws IOException {
        Where at = where(p.currentTokenLocation());
        JsonToken t = p.currentToken();
        switch (t) {
            case START_OBJECT -> {
                Map<String, Node> fields = new LinkedHashMap<>();
                Map<String, Where> keys = new LinkedHashMap<>();
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    Where keyAt = where(p.currentTokenLocation());
                    if (fields.containsKey(name)) {
                        throw new VocabConfigException(source, keyAt.line(), keyAt.column(),
                                "key \"" + name + "\" appears twice in this object");
                    }
                    p.nextToken();
                    fields.put(name, read(p, source));
                    keys.put(name, keyAt);
                }
                return new Obj(fields, keys, at);
            }
            case START_ARRAY -> {
                List<Node> items = new ArrayList<>();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    items.add(read(p, source));
                }
                return new Arr(items, at);
            }
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> {
                return new Scalar(t, p.getText(), p.getNumberValue(), at);
            }
            default -> {
                return new Scalar(t, p.getText(), null, at);
            }
        }
    }

    // ---- from the tree to rules ----

    private static final class Builder {
        private final String source;

        Builder(String source) {
            this.source = source;
        }

        VocabConfigException error(Node n, String problem) {
            return new VocabConfigException(source, n.where().line(), n.where().column(), problem);
        }

        VocabConfigException error(Where w, String problem) {
            return new VocabConfigException(source, w.line(), w.column(), problem);
        }

        VocabConfig build(Node root) {
            Obj top = object(root, "the config");
            onlyKeys(top, Set.of("default", "rules"), "the config");
            String def = "none";
            Where defWhere = top.where();
            if (top.fields().containsKey("default")) {
                Node d = top.fields().get("default");
                def = adapterName(d, "\"default\"");
                defWhere = d.where();
            }
            Node rulesNode = top.fields().get("rules");
            if (rulesNode == null) {
                throw error(top, "missing \"rules\": a list of {\"adapter\": NAME, <condition>} objects");
            }
            Arr list = array(rulesNode, "\"rules\"");
            if (list.items().size() > MAX_RULES) {
                throw error(list.items().get(MAX_RULES), "too many rules: at most " + MAX_RULES);
            }
            List<Rule> rules = new ArrayList<>();
            int spans = 0;
            for (Node item : list.items()) {
                Rule r = rule(item);
                if (r.condition() instanceof Span && ++spans > MAX_SPANS) {
                    throw error(item, "too many span rules: at most " + MAX_SPANS);
                }
                rules.add(r);
            }
            return new VocabConfig(source, def, defWhere, rules);
        }

        private static final List<String> CONDITIONS = List.of("ids", "piece", "token_text", "span", "input");

        Rule rule(Node n) {
            Obj o = object(n, "a rule");
            Set<String> allowed = Set.of("adapter", "weight", "ids", "piece", "token_text", "span", "input");
            onlyKeys(o, allowed, "a rule");
            Node a = o.fields().get("adapter");
            if (a == null) {
                throw error(o, "rule has no \"adapter\" (the adapter name, or \"none\" for the base model)");
            }
            String adapter = adapterName(a, "\"adapter\"");
            float weight = 1f;
            if (o.fields().containsKey("weight")) {
                Node w = o.fields().get("weight");
                if (!(w instanceof Scalar s) || s.number() == null) {
                    throw error(w, "\"weight\" must be a number");
                }
                weight = s.number().floatValue();
                if (!Float.isFinite(weight)) {
                    throw error(w, "\"weight\" must be finite");
                }
            }
            List<String> present = CONDITIONS.stream().filter(o.fields()::containsKey).toList();
            if (present.isEmpty()) {
                throw error(o, "rule for \"" + adapter + "\" has no condition: give one of "
                        + String.join(", ", CONDITIONS));
            }
            if (present.size() > 1) {
                throw error(o.keys().get(present.get(1)), "a rule has one condition, this one has "
                        + String.join(" and ", present) + " (write one rule per condition)");
            }
            String kind = present.get(0);
            Node c = o.fields().get(kind);
            Condition condition = switch (kind) {
                case "ids" -> ids(c);
                case "piece" -> new PieceRegex(regex(c, "\"piece\""));
                case "token_text" -> new TokenTextRegex(regex(c, "\"token_text\""));
                case "span" -> span(c);
                case "input" -> input(c);
                default -> throw new AssertionError(kind);
            };
            return new Rule(adapter, weight, condition, o.where(), a.where());
        }

        Ids ids(Node n) {
            Arr a = array(n, "\"ids\"");
            if (a.items().isEmpty()) {
                throw error(a, "\"ids\" is empty: give token ids and/or [from, to] ranges");
            }
            int[] ranges = new int[a.items().size() * 2];
            int k = 0;
            for (Node item : a.items()) {
                if (item instanceof Arr r) {
                    if (r.items().size() != 2) {
                        throw error(r, "an id range is [from, to] (inclusive), got " + r.items().size() + " numbers");
                    }
                    int from = id(r.items().get(0));
                    int to = id(r.items().get(1));
                    if (to < from) {
                        throw error(r, "id range [" + from + ", " + to + "] is backwards (from > to)");
                    }
                    ranges[k++] = from;
                    ranges[k++] = to;
                } else {
                    int id = id(item);
                    ranges[k++] = id;
                    ranges[k++] = id;
                }
            }
            return new Ids(ranges);
        }

        int id(Node n) {
            if (!(n instanceof Scalar s) || s.token() != JsonToken.VALUE_NUMBER_INT) {
                throw error(n, "a token id must be a whole number, got " + describe(n));
            }
            long v = s.number().longValue();
            if (v < 0 || v > Integer.MAX_VALUE || !(s.number() instanceof Integer || s.number() instanceof Long)) {
                throw error(n, "token id " + s.text() + " is out of range (ids are 0 .. vocabulary size - 1)");
            }
            return (int) v;
        }

        Pattern regex(Node n, String what) {
            String text = string(n, what);
            try {
                return Pattern.compile(text);
            } catch (PatternSyntaxException e) {
                throw error(n, what + " is not a valid regular expression: " + e.getDescription()
                        + (e.getIndex() >= 0 ? " near index " + e.getIndex() : "") + " in \"" + text + "\"");
            }
        }

        Span span(Node n) {
            Obj o = object(n, "\"span\"");
            onlyKeys(o, Set.of("open", "close", "delimiters"), "\"span\"");
            Node open = o.fields().get("open");
            if (open == null) {
                throw error(o, "\"span\" needs \"open\" (delimiter text or a token id)");
            }
            Delimiter d0 = delimiter(open, "\"open\"");
            Node close = o.fields().get("close");
            Delimiter d1 = close == null ? d0 : delimiter(close, "\"close\"");
            boolean include = true;
            Node dl = o.fields().get("delimiters");
            if (dl != null) {
                String v = string(dl, "\"delimiters\"");
                include = switch (v) {
                    case "include" -> true;
                    case "exclude" -> false;
                    default -> throw error(dl, "\"delimiters\" is \"include\" or \"exclude\", got \"" + v + "\"");
                };
            }
            return new Span(d0, d1, include);
        }

        Delimiter delimiter(Node n, String what) {
            if (n instanceof Scalar s && s.token() == JsonToken.VALUE_STRING) {
                if (s.text().isEmpty()) {
                    throw error(n, what + " delimiter text is empty");
                }
                return new Delimiter(s.text(), -1, n.where());
            }
            if (n instanceof Scalar s && s.token() == JsonToken.VALUE_NUMBER_INT) {
                return new Delimiter(null, id(n), n.where());
            }
            throw error(n, what + " must be delimiter text or a token id, got " + describe(n));
        }

        Input input(Node n) {
            String v = string(n, "\"input\"");
            return switch (v) {
                case "token" -> new Input(InputKind.TOKEN);
                case "embedding" -> new Input(InputKind.EMBEDDING);
                default -> throw error(n, "\"input\" is \"token\" or \"embedding\", got \"" + v + "\"");
            };
        }

        String adapterName(Node n, String what) {
            String name = string(n, what);
            if (!name.matches("[A-Za-z0-9_.-]+")) {
                throw error(n, what + " must be an adapter name (letters, digits, '_', '.', '-') or \"none\", got \""
                        + name + "\"");
            }
            return name;
        }

        String string(Node n, String what) {
            if (n instanceof Scalar s && s.token() == JsonToken.VALUE_STRING) {
                return s.text();
            }
            throw error(n, what + " must be a string, got " + describe(n));
        }

        Obj object(Node n, String what) {
            if (n instanceof Obj o) {
                return o;
            }
            throw error(n, what + " must be a JSON object, got " + describe(n));
        }

        Arr array(Node n, String what) {
            if (n instanceof Arr a) {
                return a;
            }
            throw error(n, what + " must be a list, got " + describe(n));
        }

        void onlyKeys(Obj o, Set<String> allowed, String what) {
            for (Map.Entry<String, Where> k : o.keys().entrySet()) {
                if (!allowed.contains(k.getKey())) {
                    throw error(k.getValue(), "unknown key \"" + k.getKey() + "\" in " + what + " (expected one of "
                            + String.join(", ", allowed.stream().sorted().toList()) + ")");
                }
            }
        }

        static String describe(Node n) {
            return switch (n) {
                case Obj o -> "an object";
                case Arr a -> "a list";
                case Scalar s -> switch (s.token()) {
                    case VALUE_STRING -> "the string \"" + s.text() + "\"";
                    case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "the number " + s.text();
                    case VALUE_TRUE, VALUE_FALSE -> s.text();
                    case VALUE_NULL -> "null";
                    default -> s.text();
                };
            };
        }
    }
}
