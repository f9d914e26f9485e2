package io.molora.adapters.vocab;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Parsing vocabulary-routing configs: what is accepted, and errors that name the line, column and problem. */
class VocabConfigTest {
    private static VocabConfigException error(String json) {
        return assertThrows(VocabConfigException.class, () -> VocabConfig.parse(json, "routes.json"));
    }

    private static void assertError(String json, int line, int column, String problemPart) {
        VocabConfigException e = error(json);
        assertTrue(e.problem().contains(problemPart), "problem: " + e.problem());
        assertEquals(line, e.line(), e.getMessage());
        assertEquals(column, e.column(), e.getMessage());
        assertTrue(e.getMessage().startsWith("routes.json:" + line + ":" + column + ": "), e.getMessage());
    }

    @Test
    void parsesEveryConditionKind() {
        VocabConfig c = VocabConfig.parse("""
                {
                  // comments are allowed
                  "default": "none",
                  "rules": [
                    {"adapter": "vision", "ids": [[100, 120], 5]},
                    {"adapter": "math", "piece": "^ ?[0-9]+$", "weight": 0.5},
                    {"adapter": "names", "token_text": "^▁[A-Z]"},
                    {"adapter": "code", "span": {"open": "```", "close": "```", "delimiters": "exclude"}},
                    {"adapter": "img", "span": {"open": 7}},
                    {"adapter": "img", "input": "embedding"}
                  ]
                }
                """, "routes.json");
        assertEquals("none", c.defaultAdapter());
        List<VocabConfig.Rule> r = c.rules();
        assertEquals(6, r.size());
        assertEquals(List.of(100, 120, 5, 5), java.util.Arrays.stream(((VocabConfig.Ids) r.get(0).condition()).ranges())
                .boxed().toList());
        assertEquals(0.5f, r.get(1).weight());
        assertInstanceOf(VocabConfig.TokenTextRegex.class, r.get(2).condition());
        VocabConfig.Span code = (VocabConfig.Span) r.get(3).condition();
        assertEquals("```", code.open().text());
        assertEquals(false, code.includeDelimiters());
        VocabConfig.Span img = (VocabConfig.Span) r.get(4).condition();
        assertEquals(7, img.open().id());
        assertEquals(7, img.close().id(), "close defaults to open");
        assertEquals(VocabConfig.InputKind.EMBEDDING, ((VocabConfig.Input) r.get(5).condition()).kind());
        assertEquals(8, r.get(3).where().line());
    }

    @Test
    void malformedJsonNamesLineAndColumn() {
        assertError("{\n  \"rules\": [\n    {\"adapter\": \"a\" \"ids\": [1]}\n  ]\n}", 3, 21, "malformed JSON");
        assertError("", 1, 1, "empty");
        assertError("{\"rules\": []} extra", 1, 20, "malformed JSON");
        assertError("{\"rules\": []} []", 1, 15, "after the config");
    }

    @Test
    void structuralErrorsNameTheValue() {
        assertError("{\"rules\": {}}", 1, 11, "\"rules\" must be a list");
        assertError("{\n \"default\": \"none\"\n}", 1, 1, "missing \"rules\"");
        assertError("{\"rules\": [], \"rulez\": 1}", 1, 15, "unknown key \"rulez\"");
        assertError("{\"rules\": [], \"rules\": []}", 1, 15, "appears twice");
        assertError("{\"rules\": [\n  {\"ids\": [1]}\n]}", 2, 3, "no \"adapter\"");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\"}\n]}", 2, 3, "has no condition");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"ids\": [1], \"piece\": \"x\"}\n]}", 2, 32, "one condition");
        assertError("{\"rules\": [\n  {\"adapter\": \"a b\", \"ids\": [1]}\n]}", 2, 15, "adapter name");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"weight\": \"x\", \"ids\": [1]}\n]}", 2, 30, "must be a number");
    }

    @Test
    void valueErrorsNameTheValue() {
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"ids\": [1, [9, 3]]}\n]}", 2, 31, "backwards");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"ids\": [1, 2.5]}\n]}", 2, 31, "whole number");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"ids\": [-1]}\n]}", 2, 28, "out of range");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"ids\": [[1, 2, 3]]}\n]}", 2, 28, "[from, to]");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"ids\": []}\n]}", 2, 27, "empty");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"piece\": \"[0-9\"}\n]}", 2, 29, "not a valid regular expression");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"span\": {\"close\": \"x\"}}\n]}", 2, 28, "needs \"open\"");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"span\": {\"open\": \"\"}}\n]}", 2, 37, "empty");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"span\": {\"open\": true}}\n]}", 2, 37, "delimiter text or a token id");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"span\": {\"open\": \"x\", \"delimiters\": \"both\"}}\n]}", 2, 56,
                "\"include\" or \"exclude\"");
        assertError("{\"rules\": [\n  {\"adapter\": \"a\", \"input\": \"image\"}\n]}", 2, 29, "\"token\" or \"embedding\"");
    }

    @Test
    void compileErrorsNameTheRule() {
        VocabConfig c = VocabConfig.parse("{\"rules\": [\n  {\"adapter\": \"math\", \"ids\": [1]},\n"
                + "  {\"adapter\": \"cod\", \"ids\": [2]}\n]}", "routes.json");
        VocabConfigException e = assertThrows(VocabConfigException.class,
                () -> VocabRouter.create(c, FakeVocab.of("a", "b", "c"), List.of("math", "code")));
        assertEquals("routes.json:3:15: no adapter named \"cod\" is loaded (loaded: math, code)", e.getMessage());

        VocabConfig big = VocabConfig.parse("{\"rules\": [\n  {\"adapter\": \"math\", \"ids\": [[0, 3]]}\n]}", "r.json");
        VocabConfigException e2 = assertThrows(VocabConfigException.class,
                () -> VocabRouter.create(big, FakeVocab.of("a", "b", "c"), List.of("math")));
        assertEquals(2, e2.line());
        assertTrue(e2.problem().contains("outside this model's vocabulary [0, 3)"), e2.problem());
    }
}
