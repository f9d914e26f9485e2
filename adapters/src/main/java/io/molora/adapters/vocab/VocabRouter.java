package io.molora.adapters.vocab;

import io.molora.adapters.vocab.VocabConfig.Condition;
import io.molora.adapters.vocab.VocabConfig.Delimiter;
import io.molora.adapters.vocab.VocabConfig.Ids;
import io.molora.adapters.vocab.VocabConfig.Input;
import io.molora.adapters.vocab.VocabConfig.InputKind;
import io.molora.adapters.vocab.VocabConfig.PieceRegex;
import io.molora.adapters.vocab.VocabConfig.Rule;
import io.molora.adapters.vocab.VocabConfig.Span;
import io.molora.adapters.vocab.VocabConfig.TokenTextRegex;
import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;
import io.molora.runtime.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Routes each token by what it is — its id, its text, whether it lies inside a delimited span, its input kind — by
 * the rules of a {@link VocabConfig} (first matching rule wins; no match: the default).
 *
 * <p>All per-token work is done once, when the router is built: a bit mask of the id/text rules each vocabulary
 * entry matches, and for tokens that hold delimiter bytes, the span automaton's transition for every state. Routing
 * a token is then a few array lookups.
 *
 * <p>Spans are stateful, and the state follows <em>positions</em>: for each sequence the router keeps the span state
 * after every position it has routed, and a token at position p starts from the state after p-1. So several
 * sequences in one batch, prompts split across batches, and a sequence resumed or rewound to an earlier position
 * (after {@code Context.removeTokens}) all route as if each sequence were decoded alone from its start. A token whose
 * previous position was never routed starts outside every span. Not thread-safe (one decode loop at a time).
 */
public final class VocabRouter implements Router {
    private static final int EMPTY_PIECE = -2;  // rowOf: a token with no text leaves the span automaton as it was
    private static final int NO_DELIMITER_BYTES = -1;  // rowOf: the automaton ends in its start state

    private final int vocabSize;
    private final int[] ruleAdapter;
    private final float[] ruleWeight;
    private final int defaultAdapter;
    private final long[] staticMask;  // per token: id/text rules it matches; null when there are none
    private final long tokenInputMask;
    private final long embeddingInputMask;

    // spans
    private final int spanCount;
    private final int[] spanRule;        // span index -> rule index
    private final int includeMask;       // spans whose delimiter tokens belong to the span
    private final int[] patternOpens;    // pattern -> spans it opens (bit mask)
    private final int[] patternCloses;   // pattern -> spans it closes
    private final int[] idEvent;         // per token: id-delimiter pattern, or -1; null when there are none
    private final int acStates;
    private final int[] rowOf;           // per token: row into acNext/acEvents, or one of the two markers above
    private final int[] acNext;          // [row * acStates + state] -> state after the token's bytes
    private final int[] acEvents;        // [row * acStates + state] -> offset in eventPool (0: no delimiter)
    private final int[] eventPool;       // at offset: count, then pattern ids in the order they complete

    private SeqState[] sequences = new SeqState[4];

    private static final class SeqState {
        long[] after = new long[64];  // (span mask << 32) | automaton state, after each position
        int known;                    // positions [0, known) are valid
    }

    private VocabRouter(Compiler c) {
        this.vocabSize = c.vocabSize;
        this.ruleAdapter = c.ruleAdapter;
        this.ruleWeight = c.ruleWeight;
        this.defaultAdapter = c.defaultAdapter;
        this.staticMask = c.staticMask;
        this.tokenInputMask = c.tokenInputMask;
        this.embeddingInputMask = c.embeddingInputMask;
        this.spanCount = c.spanRules.size();
        this.spanRule = c.spanRules.stream().mapToInt(Integer::intValue).toArray();
        this.includeMask = c.includeMask;
        this.patternOpens = c.patternOpens;
        this.patternCloses = c.patternCloses;
        this.idEvent = c.idEvent;
        this.acStates = c.acStates;
        this.rowOf = c.rowOf;
        this.acNext = c.acNext;
        this.acEvents = c.acEvents;
        this.eventPool = c.eventPool;
    }

    /**
     * Builds the router for a vocabulary and the adapters routes refer to (route id i = {@code adapterNames.get(i)};
     * "none" and "base" mean no adapter).
     *
     * @throws VocabConfigException naming the line of a rule whose adapter is not loaded or whose ids are outside the
     *                              vocabulary
     */
    public static VocabRouter create(VocabConfig config, Vocabulary vocab, List<String> adapterNames) {
        return new VocabRouter(new Compiler(config, vocab, adapterNames));
    }

    /** Reads the config file and builds the router for a model's tokenizer. */
    public static VocabRouter load(Path config, Tokenizer tokenizer, List<String> adapterNames) throws IOException {
        return create(VocabConfig.load(config), Vocabulary.of(tokenizer), adapterNames);
    }

    @Override
    public void route(TokenBatch batch, RouteTable routes) {
        for (int i = 0, n = batch.size(); i < n; i++) {
            int rule = matchingRule(batch, i);
            if (rule < 0) {
                routes.set(i, defaultAdapter, 1f);
            } else {
                routes.set(i, ruleAdapter[rule], ruleWeight[rule]);
            }
        }
    }

    /** Index of the first rule matching input i of the batch, or -1; advances that sequence's span state. */
    private int matchingRule(TokenBatch batch, int i) {
        boolean embedding = batch.isEmbedding(i);
        int token = embedding ? -1 : batch.token(i);
        if (!embedding && (token < 0 || token >= vocabSize)) {
            throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, " + vocabSize + ")");
        }
        long mask = embedding ? embeddingInputMask : tokenInputMask;
        if (!embedding && staticMask != null) {
            mask |= staticMask[token];
        }
        if (spanCount > 0) {
            int inside = advanceSpans(batch.sequence(i), batch.position(i), token);
            while (inside != 0) {
                int s = Integer.numberOfTrailingZeros(inside);
                inside &= inside - 1;
                mask |= 1L << spanRule[s];
            }
        }
        return mask == 0 ? -1 : Long.numberOfTrailingZeros(mask);
    }

    /** Steps the span state of {@code seq} over the token at {@code pos}; returns the spans the token is part of. */
    private int advanceSpans(int seq, int pos, int token) {
        SeqState st = state(seq);
        long before = pos > 0 && pos - 1 < st.known ? st.after[pos - 1] : 0L;
        int spans = (int) (before >>> 32);
        int ac = (int) before;
        int touched = 0;
        int open = spans;
        if (token >= 0) {
            if (idEvent != null && idEvent[token] >= 0) {
                int p = idEvent[token];
                int closes = patternCloses[p] & open;
                int opens = patternOpens[p] & ~open;
                open = (open & ~closes) | opens;
                touched |= closes | opens;
            }
            int row = rowOf[token];
            if (row == NO_DELIMITER_BYTES) {
                ac = 0;
            } else if (row >= 0) {
                int at = row * acStates + ac;
                int ev = acEvents[at];
                ac = acNext[at];
                for (int e = 0, count = eventPool[ev]; e < count; e++) {
                    int p = eventPool[ev + 1 + e];
                    int closes = patternCloses[p] & open;
                    int opens = patternOpens[p] & ~open;
                    open = (open & ~closes) | opens;
                    touched |= closes | opens;
                }
            }
        }
        if (pos >= st.after.length) {
            st.after = Arrays.copyOf(st.after, Math.max(pos + 1, st.after.length * 2));
        }
        st.after[pos] = ((long) open << 32) | (ac & 0xFFFFFFFFL);
        st.known = pos + 1;  // later positions (if any) belonged to another continuation
        int include = (spans | open | touched) & includeMask;
        int exclude = (spans & open & ~touched) & ~includeMask;
        return include | exclude;
    }

    private SeqState state(int seq) {
        if (seq < 0) {
            throw new IllegalArgumentException("sequence id must be >= 0, got " + seq);
        }
        if (seq >= sequences.length) {
            sequences = Arrays.copyOf(sequences, Math.max(seq + 1, sequences.length * 2));
        }
        SeqState st = sequences[seq];
        if (st == null) {
            st = new SeqState();
            sequences[seq] = st;
        }
        return st;
    }

    /** Forgets a sequence's span state (its next token at position 0 starts outside every span anyway). */
    @Override
    public void reset(int sequence) {
        if (sequence >= 0 && sequence < sequences.length) {
            sequences[sequence] = null;
        }
    }

    /** Whether a sequence is inside the span of rule {@code rule} after position {@code pos} (for tests, traces). */
    public boolean insideSpanAfter(int sequence, int pos, int rule) {
        if (sequence < 0 || sequence >= sequences.length || sequences[sequence] == null) {
            return false;
        }
        SeqState st = sequences[sequence];
        if (pos < 0 || pos >= st.known) {
            return false;
        }
        int open = (int) (st.after[pos] >>> 32);
        for (int s = 0; s < spanCount; s++) {
            if (spanRule[s] == rule && (open & (1 << s)) != 0) {
                return true;
            }
        }
        return false;
    }

    public int ruleCount() {
        return ruleAdapter.length;
    }

    // ---- building the tables ----

    private static final class Compiler {
        final int vocabSize;
        int[] ruleAdapter;
        float[] ruleWeight;
        int defaultAdapter;
        long[] staticMask;
        long tokenInputMask;
        long embeddingInputMask;
        final List<Integer> spanRules = new ArrayList<>();
        int includeMask;
        int[] patternOpens = new int[0];
        int[] patternCloses = new int[0];
        int[] idEvent;
        int acStates = 1;
        int[] rowOf;
        int[] acNext = new int[0];
        int[] acEvents = new int[0];
        int[] eventPool = {0};

        Compiler(VocabConfig config, Vocabulary vocab, List<String> names) {
            vocabSize = vocab.size();
            List<Rule> rules = config.rules();
            ruleAdapter = new int[rules.size()];
            ruleWeight = new float[rules.size()];
            defaultAdapter = resolve(config, config.defaultAdapter(), config.defaultWhere(), names);
            boolean needPieces = false;
            boolean needTexts = false;
            boolean anyStatic = false;
            for (int r = 0; r < rules.size(); r++) {
                Rule rule = rules.get(r);
                ruleAdapter[r] = resolve(config, rule.adapter(), rule.adapterWhere(), names);
                ruleWeight[r] = rule.weight();
                switch (rule.condition()) {
                    case Ids ids -> {
                        anyStatic = true;
                        for (int k = 0; k < ids.ranges().length; k += 2) {
                            if (ids.ranges()[k + 1] >= vocabSize) {
                                throw config.error(rule.where(), "token id " + ids.ranges()[k + 1]
                                        + " is outside this model's vocabulary [0, " + vocabSize + ")");
                            }
                        }
                    }
                    case PieceRegex p -> {
                        anyStatic = true;
                        needPieces = true;
                    }
                    case TokenTextRegex t -> {
                        anyStatic = true;
                        needTexts = true;
                    }
                    case Span s -> {
                        needPieces |= s.open().text() != null || s.close().text() != null;
                        for (Delimiter d : List.of(s.open(), s.close())) {
                            if (d.text() == null && d.id() >= vocabSize) {
                                throw config.error(d.where(), "token id " + d.id()
                                        + " is outside this model's vocabulary [0, " + vocabSize + ")");
                            }
                        }
                    }
                    case Input in -> {
                        if (in.kind() == InputKind.TOKEN) {
                            tokenInputMask |= 1L << r;
                        } else {
                            embeddingInputMask |= 1L << r;
                        }
                    }
                }
            }
            byte[][] pieces = new byte[vocabSize][];
            String[] pieceText = null;
            if (needPieces) {
                pieceText = new String[vocabSize];
                for (int t = 0; t < vocabSize; t++) {
                    pieces[t] = vocab.pieceBytes(t);
                    pieceText[t] = new String(pieces[t], StandardCharsets.UTF_8);
                }
            }
            String[] texts = null;
            if (needTexts) {
                texts = new String[vocabSize];
                for (int t = 0; t < vocabSize; t++) {
                    texts[t] = vocab.tokenText(t);
                }
            }
            if (anyStatic) {
                staticMask = new long[vocabSize];
                for (int r = 0; r < rules.size(); r++) {
                    long bit = 1L << r;
                    switch (rules.get(r).condition()) {
                        case Ids ids -> {
                            int[] ranges = ids.ranges();
                            for (int k = 0; k < ranges.length; k += 2) {
                                for (int t = ranges[k]; t <= ranges[k + 1]; t++) {
                                    staticMask[t] |= bit;
                                }
                            }
                        }
                        case PieceRegex p -> {
                            for (int t = 0; t < vocabSize; t++) {
                                if (p.pattern().matcher(pieceText[t]).find()) {
                                    staticMask[t] |= bit;
                                }
                            }
                        }
                        case TokenTextRegex tt -> {
                            for (int t = 0; t < vocabSize; t++) {
                                if (tt.pattern().matcher(texts[t]).find()) {
                                    staticMask[t] |= bit;
                                }
                            }
                        }
                        default -> { }
                    }
                }
            }
            buildSpans(rules, pieces);
        }

        private void buildSpans(List<Rule> rules, byte[][] pieces) {
            Map<String, Integer> textPatterns = new LinkedHashMap<>();
            Map<Integer, Integer> idPatterns = new LinkedHashMap<>();
            List<int[]> roles = new ArrayList<>();  // per pattern: {opens, closes}
            for (int r = 0; r < rules.size(); r++) {
                if (!(rules.get(r).condition() instanceof Span span)) {
                    continue;
                }
                int s = spanRules.size();
                spanRules.add(r);
                if (span.includeDelimiters()) {
                    includeMask |= 1 << s;
                }
                int open = patternOf(span.open(), textPatterns, idPatterns);
                int close = patternOf(span.close(), textPatterns, idPatterns);
                while (roles.size() < textPatterns.size() + idPatterns.size()) {
                    roles.add(new int[2]);
                }
                roles.get(open)[0] |= 1 << s;
                roles.get(close)[1] |= 1 << s;
            }
            if (spanRules.isEmpty()) {
                return;
            }
            patternOpens = roles.stream().mapToInt(x -> x[0]).toArray();
            patternCloses = roles.stream().mapToInt(x -> x[1]).toArray();
            if (!idPatterns.isEmpty()) {
                idEvent = new int[vocabSize];
                Arrays.fill(idEvent, -1);
                idPatterns.forEach((id, p) -> idEvent[id] = p);
            }
            rowOf = new int[vocabSize];
            if (textPatterns.isEmpty()) {
                Arrays.fill(rowOf, EMPTY_PIECE);
                return;
            }
            // Text patterns are numbered in the automaton as in textPatterns' order; map them to pattern ids.
            List<byte[]> bytes = new ArrayList<>();
            int[] patternId = new int[textPatterns.size()];
            int k = 0;
            for (Map.Entry<String, Integer> e : textPatterns.entrySet()) {
                bytes.add(e.getKey().getBytes(StandardCharsets.UTF_8));
                patternId[k++] = e.getValue();
            }
            DelimiterAutomaton ac = new DelimiterAutomaton(bytes);
            acStates = ac.states();
            boolean[] delimiterByte = new boolean[256];
            for (byte[] b : bytes) {
                for (byte x : b) {
                    delimiterByte[x & 0xFF] = true;
                }
            }
            int rows = 0;
            for (int t = 0; t < vocabSize; t++) {
                byte[] p = pieces[t];
                if (p.length == 0) {
                    rowOf[t] = EMPTY_PIECE;
                    continue;
                }
                boolean relevant = false;
                for (byte x : p) {
                    relevant |= delimiterByte[x & 0xFF];
                }
                rowOf[t] = relevant ? rows++ : NO_DELIMITER_BYTES;
            }
            acNext = new int[rows * acStates];
            acEvents = new int[rows * acStates];
            List<Integer> pool = new ArrayList<>(List.of(0));
            List<Integer> events = new ArrayList<>();
            for (int t = 0; t < vocabSize; t++) {
                if (rowOf[t] < 0) {
                    continue;
                }
                for (int s0 = 0; s0 < acStates; s0++) {
                    int s = s0;
                    events.clear();
                    for (byte x : pieces[t]) {
                        s = ac.step(s, x);
                        for (int m : ac.matchesAt(s)) {
                            events.add(patternId[m]);
                        }
                    }
                    int at = rowOf[t] * acStates + s0;
                    acNext[at] = s;
                    if (!events.isEmpty()) {
                        acEvents[at] = pool.size();
                        pool.add(events.size());
                        pool.addAll(events);
                    }
                }
            }
            eventPool = pool.stream().mapToInt(Integer::intValue).toArray();
        }

        private static int patternOf(Delimiter d, Map<String, Integer> text, Map<Integer, Integer> ids) {
            int next = text.size() + ids.size();
            if (d.text() != null) {
                return text.computeIfAbsent(d.text(), x -> next);
            }
            return ids.computeIfAbsent(d.id(), x -> next);
        }

        private static int resolve(VocabConfig config, String name, VocabConfig.Where where, List<String> names) {
            if (name.equals("none") || name.equals("base")) {
                return RouteTable.NONE;
            }
            int i = names.indexOf(name);
            if (i < 0) {
                throw config.error(where, "no adapter named \"" + name + "\" is loaded ("
                        + (names.isEmpty() ? "no adapters" : "loaded: " + String.join(", ", names)) + ")");
            }
            return i;
        }
    }
}
