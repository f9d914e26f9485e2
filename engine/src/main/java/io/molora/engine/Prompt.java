package io.molora.engine;

import io.molora.runtime.ChatTemplate;
import java.util.List;
import java.util.Objects;

/** What a request asks the model to continue: plain text, or a conversation formatted by the model's chat template. */
public sealed interface Prompt {
    record Text(String text) implements Prompt {
        public Text {
            Objects.requireNonNull(text, "text");
        }
    }

    record Chat(List<ChatTemplate.Message> messages) implements Prompt {
        public Chat {
            messages = List.copyOf(messages);
            if (messages.isEmpty()) {
                throw new IllegalArgumentException("a chat prompt needs at least one message");
            }
        }
    }
}
