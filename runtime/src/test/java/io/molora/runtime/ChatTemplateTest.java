package io.molora.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** llama_chat_apply_template through {@link ChatTemplate}: built-in templates give llama.cpp's exact text. */
class ChatTemplateTest {
    private static final List<ChatTemplate.Message> CHAT = List.of(new ChatTemplate.Message("system", "Be brief."),
            new ChatTemplate.Message("user", "Hi"), new ChatTemplate.Message("assistant", "Hello."),
            new ChatTemplate.Message("user", "Ünïcode ✓"));

    @Test
    void chatmlWithAndWithoutTheAssistantStart() {
        ChatTemplate t = ChatTemplate.named("chatml");
        String body = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nÜnïcode ✓<|im_end|>\n";
        assertEquals(body + "<|im_start|>assistant\n", t.apply(CHAT, true));
        assertEquals(body, t.apply(CHAT, false));
    }

    @Test
    void aLongerConversationExtendsTheShorterOnesText() {
        ChatTemplate t = ChatTemplate.named("llama3");
        String first = t.apply(CHAT.subList(0, 2), true);
        String all = t.apply(CHAT, true);
        assertTrue(all.startsWith(first), "a chat's formatted text only grows turn by turn (what KV reuse relies on)");
        assertTrue(all.contains("<|start_header_id|>user<|end_header_id|>"), all);
    }

    @Test
    void unknownTemplatesAreRefusedInOneLine() {
        LlamaException e = assertThrows(LlamaException.class, () -> ChatTemplate.named("no-such-template"));
        assertTrue(e.getMessage().contains("does not support this chat template"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }
}
