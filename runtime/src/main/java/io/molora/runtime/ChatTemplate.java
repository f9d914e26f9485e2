package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import io.molora.bindings.llama.llama_chat_message;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A chat template applied by llama.cpp ({@code llama_chat_apply_template}): the model's own template from its GGUF
 * metadata ({@code tokenizer.chat_template}), or a named built-in one ("chatml", "llama3", ...). llama.cpp recognises
 * templates by pattern, not with a Jinja engine; a template it does not know is refused with a one-line error.
 */
public final class ChatTemplate {
    /** One chat message; role is "system", "user" or "assistant". */
    public record Message(String role, String content) {
        public Message {
            if (role == null || role.isEmpty()) {
                throw new IllegalArgumentException("message role is empty");
            }
            if (content == null) {
                throw new IllegalArgumentException("message content is missing");
            }
        }
    }

    /** What llama-server uses when a model has no template. */
    public static final String FALLBACK = "chatml";

    private final String template;
    private final boolean fromModel;

    private ChatTemplate(String template, boolean fromModel) {
        this.template = template;
        this.fromModel = fromModel;
    }

    /** The model's template, or {@link #FALLBACK} when its metadata has none. */
    public static ChatTemplate of(Model model) {
        return model.chatTemplate().map(t -> new ChatTemplate(t, true)).orElseGet(() -> new ChatTemplate(FALLBACK, false));
    }

    /** A template given as text or as a built-in name; checked now. */
    public static ChatTemplate named(String template) {
        ChatTemplate t = new ChatTemplate(template, false);
        t.apply(List.of(new Message("user", "x")), true);
        return t;
    }

    /** The template text (or built-in name). */
    public String template() {
        return template;
    }

    /** Whether it came from the model's metadata (false: a named or fallback template). */
    public boolean fromModel() {
        return fromModel;
    }

    /**
     * Formats the conversation.
     *
     * @param addAssistant end with the tokens that start the assistant's reply
     */
    public String apply(List<Message> messages, boolean addAssistant) {
        Backend.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tmpl = arena.allocateFrom(template);
            // struct llama_chat_message[n]
            MemorySegment chat = llama_chat_message.allocateArray(Math.max(1, messages.size()), arena);
            long chars = 0;
            for (int i = 0; i < messages.size(); i++) {
                MemorySegment m = llama_chat_message.asSlice(chat, i);
                llama_chat_message.role(m, arena.allocateFrom(messages.get(i).role()));
                llama_chat_message.content(m, arena.allocateFrom(messages.get(i).content()));
                chars += messages.get(i).content().getBytes(StandardCharsets.UTF_8).length + 64;
            }
            int capacity = (int) Math.min(Integer.MAX_VALUE - 8, 2 * chars + 256);
            MemorySegment buf = arena.allocate(capacity);
            int n = llama_chat_apply_template(tmpl, chat, messages.size(), addAssistant, buf, capacity);
            if (n > capacity) {
                capacity = n;
                buf = arena.allocate(capacity);
                n = llama_chat_apply_template(tmpl, chat, messages.size(), addAssistant, buf, capacity);
            }
            if (n < 0) {
                throw new LlamaException("llama.cpp does not support this chat template"
                        + (fromModel ? " (from the model's metadata)" : " '" + shorten(template) + "'")
                        + "; pass a built-in one such as chatml or llama3");
            }
            return new String(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
    }

    private static String shorten(String s) {
        String one = s.replace('\n', ' ');
        return one.length() > 40 ? one.substring(0, 40) + "..." : one;
    }
}
