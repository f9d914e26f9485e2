package io.molora.adapters.eval;

import io.molora.runtime.RouteTable;
import io.molora.runtime.Tokenizer;
import java.util.List;

/**
 * The domain label of every token of a text whose characters carry domain spans (the testbed's mixed eval lines:
 * {@code [[start, end, domain]]}, character offsets in code points), as an adapter id per token position.
 */
public final class SpanLabels {
    private SpanLabels() {}

    /** One span: code points {@code [start, end)} belong to {@code domain}. */
    public record Span(int start, int end, String domain) {}

    /**
     * {@code labels[p]}: the adapter named by the domain of token p's first non-space character, or
     * {@link RouteTable#NONE} where no span or no adapter of that name covers it. {@code ids} is the text tokenized with
     * BOS first (BOS takes the label of the text's first character); a leading space that the tokenizer adds is
     * accounted for.
     */
    public static int[] labels(Tokenizer tok, int[] ids, String text, List<Span> spans, List<String> adapters) {
        int[] labels = new int[ids.length];
        // code points are counted on the rendered bytes (a byte-fallback token holds part of a character): every
        // byte that is not a UTF-8 continuation byte starts one
        byte[][] pieces = new byte[ids.length][];
        int[] startOf = new int[ids.length];
        int codePoints = 0;
        boolean leadingSpace = false;
        for (int p = 1; p < ids.length; p++) {
            pieces[p] = tok.pieceBytes(ids[p], true);
            if (p == 1 && pieces[p].length > 0 && pieces[p][0] == ' ' && !text.startsWith(" ")) {
                leadingSpace = true;  // SentencePiece's space prefix: not part of the text
            }
            startOf[p] = codePoints;
            for (byte b : pieces[p]) {
                codePoints += (b & 0xC0) == 0x80 ? 0 : 1;
            }
        }
        int shift = leadingSpace ? 1 : 0;
        for (int p = 1; p < ids.length; p++) {
            int lead = 0;  // the token's first non-space character (bytes of spaces are single code points)
            while (lead < pieces[p].length - 1 && (pieces[p][lead] == ' ' || pieces[p][lead] == '\n'
                    || pieces[p][lead] == '\t')) {
                lead++;
            }
            labels[p] = labelAt(Math.max(0, startOf[p] + lead - shift), spans, adapters);
        }
        labels[0] = labelAt(0, spans, adapters);
        return labels;
    }

    /** Every token labelled with one adapter (a record of one domain), BOS included. */
    public static int[] constant(int length, int adapter) {
        int[] labels = new int[length];
        java.util.Arrays.fill(labels, adapter);
        return labels;
    }

    private static int labelAt(int codePoint, List<Span> spans, List<String> adapters) {
        for (Span s : spans) {
            if (codePoint >= s.start() && codePoint < s.end()) {
                return adapters.indexOf(s.domain());  // -1 = NONE when no adapter has that name
            }
        }
        return RouteTable.NONE;
    }
}
