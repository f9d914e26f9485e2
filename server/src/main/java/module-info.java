/** molora's OpenAI-compatible HTTP server over the engine's completion service. */
module io.molora.server {
    requires transitive io.molora.engine;
    requires io.helidon.webserver;
    requires io.helidon.webserver.staticcontent;
    requires io.helidon.webserver.cors;
    requires io.helidon.http;
    requires com.fasterxml.jackson.databind;
    requires java.logging;

    exports io.molora.server;
}
