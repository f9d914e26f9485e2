package io.molora.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * An error answered in OpenAI's format: {@code {"error": {"message", "type", "param", "code"}}} with its HTTP status.
 * The message is one line meant for the person who sent the request; never a stack trace.
 */
final class ApiError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    final int status;
    final String type;
    final String param;
    final String code;

    ApiError(int status, String type, String param, String code, String message) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400: the request is wrong; {@code param} names the field (or null). */
    static ApiError badRequest(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, null, message);
    }

    static ApiError notFound(String param, String code, String message) {
        return new ApiError(404, "invalid_request_error", param, code, message);
    }

    ObjectNode json(ObjectMapper json) {
        ObjectNode root = json.createObjectNode();
        ObjectNode e = root.putObject("error");
        e.put("message", getMessage());
        e.put("type", type);
        if (param == null) {
            e.putNull("param");
        } else {
            e.put("param", param);
        }
        if (code == null) {
            e.putNull("code");
        } else {
            e.put("code", code);
        }
        return root;
    }
}
