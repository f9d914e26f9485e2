package io.molora.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import io.molora.runtime.testing.NativeTestSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Tokenization through molora equals llama.cpp's own expected tokens: the {@code .inp}/{@code .out} pairs that
 * llama.cpp's test-tokenizer-0 checks (add_special = false, parse_special = false).
 */
class TokenizerOracleTest {
    private static final String SEPARATOR = "\n__ggml_vocab_test__\n";
    private static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(NativeTestSupport.vocab("llama-spm"), ModelParams.defaults().withVocabOnly(true));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void matchesLlamaCppExpectedTokens() throws IOException {
        Path inp = NativeTestSupport.vocab("llama-spm").resolveSibling("ggml-vocab-llama-spm.gguf.inp");
        Path out = NativeTestSupport.vocab("llama-spm").resolveSibling("ggml-vocab-llama-spm.gguf.out");
        List<String> inputs = split(Files.readString(inp, StandardCharsets.UTF_8));
        List<String> expected = Files.readAllLines(out, StandardCharsets.UTF_8);
        assertEquals(expected.size(), inputs.size(), "test files disagree on the number of cases");
        assertTrue(inputs.size() > 20, "expected the full llama.cpp tokenizer test set");
        for (int i = 0; i < inputs.size(); i++) {
            String line = expected.get(i).strip();
            int[] want = line.isEmpty() ? new int[0] : Arrays.stream(line.split(" ")).mapToInt(Integer::parseInt).toArray();
            int[] got = model.tokenizer().tokenize(inputs.get(i), false, false);
            assertArrayEquals(want, got, "tokens of case " + i + ": '" + inputs.get(i) + "'");
        }
    }

    @Test
    void addsBosAndParsesSpecialTokensOnRequest() {
        Tokenizer tok = model.tokenizer();
        int[] plain = tok.tokenize("Hello", false, false);
        int[] withBos = tok.tokenize("Hello", true, false);
        assertEquals(tok.bos(), withBos[0]);
        assertArrayEquals(plain, Arrays.copyOfRange(withBos, 1, withBos.length));
        assertArrayEquals(new int[] {tok.eos()}, tok.tokenize("</s>", false, true));
    }

    @Test
    void detokenizeInvertsTokenize() {
        String text = "Hello world, this is 🦙.cpp — ½ Äpfel";
        int[] tokens = model.tokenizer().tokenize(text, false, false);
        // SentencePiece adds a leading space marker to the first word.
        assertEquals(" " + text, model.tokenizer().detokenize(tokens));
    }

    @Test
    void rejectsTokenIdsOutsideTheVocabulary() {
        Tokenizer tok = model.tokenizer();
        var e = assertThrows(IllegalArgumentException.class, () -> tok.piece(tok.vocabSize()));
        assertTrue(e.getMessage().contains("outside the vocabulary"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> tok.piece(-1));
    }

    private static List<String> split(String raw) {
        List<String> parts = new ArrayList<>();
        int pos = 0;
        while (pos < raw.length()) {
            int next = raw.indexOf(SEPARATOR, pos);
            if (next < 0) {
                parts.add(raw.substring(pos));
                break;
            }
            parts.add(raw.substring(pos, next));
            pos = next + SEPARATOR.length();
        }
        return parts;
    }
}
