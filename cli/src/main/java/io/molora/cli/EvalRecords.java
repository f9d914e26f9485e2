package io.molora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.adapters.eval.SpanLabels;
import io.molora.engine.EvalRecord;
import io.molora.engine.TextFiles;
import io.molora.runtime.LlamaException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The testbed's eval records ({@code .jsonl}), as {@code perplexity} reads them. */
final class EvalRecords {
    private EvalRecords() {}

    /**
     * Eval records, one JSON object a line: {@code text}, and optionally {@code set} (default: the file name),
     * {@code ids} and {@code spans} ({@code [[start, end, "domain"], ...]}, code points).
     */
    static List<EvalRecord> read(Path f) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        List<EvalRecord> records = new ArrayList<>();
        int line = 0;
        for (String s : TextFiles.read(f).lines().toList()) {
            line++;
            if (s.isBlank()) {
                continue;
            }
            JsonNode r;
            try {
                r = mapper.readTree(s);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new LlamaException(f + ":" + line + ": not a JSON object (" + e.getOriginalMessage() + ")");
            }
            if (r == null || !r.isObject() || !r.path("text").isTextual()) {
                throw new LlamaException(f + ":" + line + ": an eval record needs a \"text\" string");
            }
            Optional<List<SpanLabels.Span>> spans = Optional.empty();
            if (r.path("spans").isArray()) {
                List<SpanLabels.Span> list = new ArrayList<>();
                for (JsonNode sp : r.get("spans")) {
                    if (!sp.isArray() || sp.size() != 3 || !sp.get(0).canConvertToInt() || !sp.get(1).canConvertToInt()) {
                        throw new LlamaException(f + ":" + line + ": a span is [start, end, \"domain\"], got " + sp);
                    }
                    list.add(new SpanLabels.Span(sp.get(0).asInt(), sp.get(1).asInt(), sp.get(2).asText()));
                }
                spans = Optional.of(list);
            }
            Optional<int[]> ids = Optional.empty();
            if (r.path("ids").isArray()) {
                int[] expected = new int[r.get("ids").size()];
                for (int i = 0; i < expected.length; i++) {
                    expected[i] = r.get("ids").get(i).asInt();
                }
                ids = Optional.of(expected);
            }
            records.add(new EvalRecord(r.path("set").asText(f.getFileName().toString()), r.get("text").asText(), ids,
                    spans));
        }
        return records;
    }
}
