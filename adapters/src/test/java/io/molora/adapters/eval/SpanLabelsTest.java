package io.molora.adapters.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.molora.runtime.Model;
import io.molora.runtime.ModelParams;
import io.molora.runtime.RouteTable;
import io.molora.runtime.Tokenizer;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Token labels from character spans, checked against where llama.cpp's own detokenizer puts each token. */
class SpanLabelsTest {
    @TempDir
    Path dir;

    @Test
    void eachTokenTakesTheDomainOfItsFirstCharacter() throws IOException {
        try (Model model = Model.load(NativeTestSupport.writeTinyModel(dir, 2), ModelParams.defaults().withVocabOnly(true))) {
            Tokenizer tok = model.tokenizer();
            String text = "Solve it: def area(w, h): return w * h and 12 + 30 = 42 — done.";
            int code = text.indexOf("def");
            int math = text.indexOf("12");
            int prose = text.indexOf(" —");
            List<SpanLabels.Span> spans = List.of(new SpanLabels.Span(0, code, "prose"),
                    new SpanLabels.Span(code, text.indexOf(" and"), "code"),
                    new SpanLabels.Span(text.indexOf(" and"), math, "prose"),
                    new SpanLabels.Span(math, prose, "math"), new SpanLabels.Span(prose, text.length(), "prose"));
            List<String> adapters = List.of("code", "math", "prose");
            int[] ids = tok.tokenize(text, true, false);
            int[] labels = SpanLabels.labels(tok, ids, text, spans, adapters);

            // the oracle: detokenize the prefix before each token and take the first non-space character after it
            String whole = tok.detokenize(Arrays.copyOfRange(ids, 1, ids.length));
            int shift = whole.length() - text.length();  // the space SentencePiece puts in front
            for (int p = 1; p < ids.length; p++) {
                int at = Math.max(0, tok.detokenize(Arrays.copyOfRange(ids, 1, p)).length() - shift);
                while (at < text.length() - 1 && text.charAt(at) == ' ' && !tok.piece(ids[p]).isBlank()) {
                    at++;
                }
                int expected = RouteTable.NONE;
                for (SpanLabels.Span s : spans) {
                    if (at >= s.start() && at < s.end()) {
                        expected = adapters.indexOf(s.domain());
                    }
                }
                assertEquals(expected, labels[p], "token " + p + " '" + tok.piece(ids[p]) + "' at " + at);
            }
            assertEquals(adapters.indexOf("prose"), labels[0], "BOS takes the first character's label");
            // the spans are really used: all three domains occur
            assertEquals(3, Arrays.stream(labels).distinct().count());
        }
    }

    @Test
    void aDomainNoAdapterHasIsNone() throws IOException {
        try (Model model = Model.load(NativeTestSupport.writeTinyModel(dir, 2), ModelParams.defaults().withVocabOnly(true))) {
            Tokenizer tok = model.tokenizer();
            int[] ids = tok.tokenize("x = 1", true, false);
            int[] labels = SpanLabels.labels(tok, ids, "x = 1", List.of(new SpanLabels.Span(0, 5, "poetry")),
                    List.of("code"));
            assertEquals(RouteTable.NONE, Arrays.stream(labels).max().orElseThrow());
        }
    }
}
