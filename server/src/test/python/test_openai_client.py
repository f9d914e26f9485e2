"""`molora serve` driven by the official `openai` Python client (and curl for the raw SSE framing).

The oracle for every greedy answer is `molora complete` on the same family (conftest.py): same text, same token
counts, same per-token routes. Nothing here knows what the testbed model writes."""

import json
import re
import subprocess

import urllib.error
import urllib.request
import openai
import pytest

import molora_server
from conftest import CHAT, KEY, server_request


class Raw:
    """A plain HTTP answer (status, headers, body) from the standard library, for what no client library should
    smooth over: malformed bodies, missing keys, /health and /metrics."""

    def __init__(self, method, url, body=None, headers=None):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        h = dict({"Content-Type": "application/json"} if data else {}, **(headers or {}))
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                self.status_code, self.headers, self.text = r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            self.status_code, self.headers, self.text = e.code, e.headers, e.read().decode()

    def json(self):
        return json.loads(self.text)


def ext(obj):
    """The `molora` extension object of a response or chunk (None when absent)."""
    return (obj.model_extra or {}).get("molora")


def complete(client, name, **more):
    """The server's answer to ORACLE[name] (completions or chat, by its fields)."""
    req = dict(server_request(name), **more)
    if "messages" in req:
        return client.chat.completions.create(**split(req))
    return client.completions.create(**split(req))


def split(req):
    """Moves the non-OpenAI field `molora` into extra_body, as a user of the client would."""
    req = dict(req)
    extra = {"molora": req.pop("molora")} if "molora" in req else {}
    if "show_routes" in req:
        extra.setdefault("molora", {})["show_routes"] = req.pop("show_routes")
    if extra:
        req["extra_body"] = extra
    return req


def finish(oracle_reason):
    """`complete` says context_full where OpenAI's vocabulary has only stop and length."""
    return "length" if oracle_reason == "context_full" else oracle_reason


# --- listing --------------------------------------------------------------------------------------------------------

def test_models_lists_base_adapters_and_router(client):
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {molora_server.BASE_ID, *molora_server.DOMAINS, "auto"}
    kinds = {i: m.model_dump()["molora"]["kind"] for i, m in models.items()}
    assert kinds == {molora_server.BASE_ID: "base", "code": "adapter", "prose": "adapter", "math": "adapter",
                     "auto": "router"}
    assert all(m.object == "model" for m in models.values())


# --- greedy answers equal molora complete's -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["code", "auto", "base", "mix"])
def test_completion_equals_complete(client, oracle, name):
    want = oracle[name]
    got = complete(client, name, show_routes=True)
    choice = got.choices[0]
    assert choice.text == want["text"]
    assert choice.finish_reason == finish(want["finish_reason"])
    assert got.usage.prompt_tokens == want["usage"]["prompt_tokens"]
    assert got.usage.completion_tokens == want["usage"]["completion_tokens"]
    assert got.usage.total_tokens == got.usage.prompt_tokens + got.usage.completion_tokens
    assert got.object == "text_completion"
    m = ext(got)
    assert m["adapter_tokens"] == want["adapter_tokens"]
    assert m["routes"] == want["routes"]
    assert "".join(r["token"] for r in m["routes"]) == choice.text


def test_chat_equals_complete_with_the_chat_template(client, oracle):
    want = oracle["chat"]
    got = complete(client, "chat", show_routes=True)
    assert got.object == "chat.completion"
    msg = got.choices[0].message
    assert msg.role == "assistant"
    assert msg.content == want["text"]
    assert got.choices[0].finish_reason == finish(want["finish_reason"])
    assert got.usage.prompt_tokens == want["usage"]["prompt_tokens"]
    assert got.usage.completion_tokens == want["usage"]["completion_tokens"]
    assert ext(got)["routes"] == want["routes"]


def test_one_adapter_serves_every_token_and_the_base_none(client):
    code = complete(client, "code", show_routes=True)
    n = code.usage.completion_tokens
    assert n > 0
    assert ext(code)["adapter_tokens"] == {"code": n}
    assert all(r["adapters"] == ["code"] for r in ext(code)["routes"])
    base = complete(client, "base", show_routes=True)
    assert all(r["adapters"] == [] for r in ext(base)["routes"])
    assert sum(ext(base)["adapter_tokens"].values()) == base.usage.completion_tokens
    assert set(ext(base)["adapter_tokens"]) <= {"none"}


def test_routes_only_when_asked(client):
    got = complete(client, "auto")
    m = ext(got)
    assert m is not None and "adapter_tokens" in m
    assert "routes" not in m


def test_max_tokens_cuts_with_length(client, oracle):
    want = oracle["code"]
    if want["usage"]["completion_tokens"] <= 5:
        pytest.skip("the oracle stopped within 5 tokens")
    got = complete(client, "code", max_tokens=5, show_routes=True)
    assert got.usage.completion_tokens == 5
    assert got.choices[0].finish_reason == "length"
    assert want["text"].startswith(got.choices[0].text)


def test_stop_string_ends_the_text_before_it(client, oracle):
    text = oracle["code"]["text"]
    # a stop string that occurs in the greedy text after its start: the answer is the text before its first occurrence
    stop = next((text[i:i + 2] for i in range(3, len(text) - 1) if text[i:i + 2].strip()), None)
    if stop is None:
        pytest.skip("the oracle text has no stop candidate")
    got = complete(client, "code", stop=[stop])
    assert got.choices[0].text == text[:text.index(stop)]
    assert got.choices[0].finish_reason == "stop"
    got = complete(client, "code", stop=stop)
    assert got.choices[0].text == text[:text.index(stop)]


def test_seeded_sampling_repeats(client):
    a = complete(client, "auto", temperature=0.9, top_p=0.95, seed=1234)
    b = complete(client, "auto", temperature=0.9, top_p=0.95, seed=1234)
    assert a.choices[0].text == b.choices[0].text
    assert a.usage.completion_tokens > 0


# --- log-probabilities ----------------------------------------------------------------------------------------------

def test_completion_logprobs_follow_the_greedy_tokens(client, oracle):
    want = oracle["code"]
    got = complete(client, "code", logprobs=3)
    choice = got.choices[0]
    assert choice.text == want["text"], "asking for logprobs changed the answer"
    lp = choice.logprobs
    assert "".join(lp.tokens) == choice.text
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == got.usage.completion_tokens
    offsets, at = [], 0
    for tok, value, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        offsets.append(at)
        at += len(tok)
        assert value <= 0
        assert 1 <= len(top) <= 3  # alternatives with the same text share a key
        # greedy: the chosen token is the most likely one
        assert max(top.values()) == pytest.approx(value, abs=1e-6)
        assert sum(2.718281828459045 ** v for v in top.values()) <= 1 + 1e-5
    assert lp.text_offset == offsets


def test_chat_logprobs_with_top_alternatives_plain_and_streamed(client, oracle):
    want = oracle["chat"]
    got = complete(client, "chat", logprobs=True, top_logprobs=2)
    assert got.choices[0].message.content == want["text"]
    content = got.choices[0].logprobs.content
    assert "".join(c.token for c in content) == want["text"]
    for c in content:
        assert c.bytes == list(c.token.encode("utf-8"))
        assert len(c.top_logprobs) == 2
        assert c.top_logprobs[0].logprob == pytest.approx(c.logprob, abs=1e-6)
        assert c.top_logprobs[0].logprob >= c.top_logprobs[1].logprob
    streamed = []
    for chunk in complete(client, "chat", logprobs=True, top_logprobs=2, stream=True):
        if chunk.choices and chunk.choices[0].logprobs is not None:
            assert "".join(c.token for c in chunk.choices[0].logprobs.content) == chunk.choices[0].delta.content
            streamed += chunk.choices[0].logprobs.content
    assert [(c.token, c.logprob) for c in streamed] == [(c.token, c.logprob) for c in content]
    plain = complete(client, "chat")
    assert plain.choices[0].logprobs is None


def test_top_logprobs_without_logprobs_is_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="auto", messages=CHAT, max_tokens=2, top_logprobs=2)
    e = assert_openai_error(info.value, 400, "invalid_request_error")
    assert e["param"] == "top_logprobs"


# --- streaming ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["code", "auto", "mix"])
def test_stream_concatenates_to_the_greedy_text_with_routes_per_chunk(client, oracle, name):
    want = oracle[name]
    chunks = list(complete(client, name, stream=True, show_routes=True,
                           stream_options={"include_usage": True}))
    text, routes, finals, usage = "", [], [], None
    for c in chunks:
        if c.usage is not None:
            usage = c.usage
        if not c.choices:
            continue
        choice = c.choices[0]
        text += choice.text
        m = ext(c) or {}
        if choice.text:
            assert "".join(r["token"] for r in m["routes"]) == choice.text, "a chunk's routes are not its tokens"
        routes += m.get("routes", [])
        if choice.finish_reason is not None:
            finals.append((choice.finish_reason, m.get("adapter_tokens")))
    assert text == want["text"]
    assert routes == want["routes"]
    assert finals == [(finish(want["finish_reason"]), want["adapter_tokens"])]
    assert usage is not None and usage.completion_tokens == want["usage"]["completion_tokens"]
    assert usage.prompt_tokens == want["usage"]["prompt_tokens"]


def test_chat_stream_concatenates_to_the_greedy_message(client, oracle):
    want = oracle["chat"]
    stream = complete(client, "chat", stream=True, show_routes=True)
    content, roles, routes, reasons = "", [], [], []
    for c in stream:
        assert c.object == "chat.completion.chunk"
        if not c.choices:
            continue
        d = c.choices[0].delta
        if d.role:
            roles.append(d.role)
        content += d.content or ""
        routes += (ext(c) or {}).get("routes", [])
        if c.choices[0].finish_reason:
            reasons.append(c.choices[0].finish_reason)
    assert content == want["text"]
    assert roles[:1] == ["assistant"]
    assert routes == want["routes"]
    assert reasons == [finish(want["finish_reason"])]


def test_sse_framing_with_curl(server, oracle):
    body = dict(server_request("chat"), stream=True)
    p = subprocess.run(["curl", "-sS", "-N", "-i", "--max-time", "120", "-H", "Content-Type: application/json",
                        "-d", json.dumps(body), server.url + "/v1/chat/completions"],
                       capture_output=True, timeout=180)
    assert p.returncode == 0, p.stderr
    raw = p.stdout.decode("utf-8")
    head, _, payload = raw.replace("\r\n", "\n").partition("\n\n")
    assert re.search(r"^HTTP/\S+ 200", head), head
    assert re.search(r"^content-type: text/event-stream", head, re.I | re.M), head
    assert payload.endswith("data: [DONE]\n\n"), payload[-200:]
    events = payload.split("\n\n")[:-1]
    assert events[-1] == "data: [DONE]"
    text = ""
    for e in events[:-1]:
        assert e.startswith("data: ") and "\n" not in e, repr(e)
        chunk = json.loads(e[len("data: "):])
        assert chunk["object"] == "chat.completion.chunk"
        for choice in chunk["choices"]:
            text += choice["delta"].get("content") or ""
    assert text == oracle["chat"]["text"]


# --- errors ---------------------------------------------------------------------------------------------------------

def assert_openai_error(err, status, kind=None):
    assert err.status_code == status
    body = err.response.json()
    assert set(body) == {"error"}, body
    e = body["error"]
    assert isinstance(e["message"], str) and e["message"] and "\n" not in e["message"]
    assert "Exception" not in e["message"] and "\tat " not in err.response.text
    if kind:
        assert e["type"] == kind
    return e


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.completions.create(model="no-such-model", prompt="x", max_tokens=2)
    e = assert_openai_error(info.value, 404)
    assert "no-such-model" in e["message"]


@pytest.mark.parametrize("field,value", [("n", 2), ("best_of", 2), ("logprobs", 21)])
def test_unsupported_fields_are_400_naming_the_field(client, field, value):
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="auto", prompt="x", max_tokens=2, **{field: value})
    e = assert_openai_error(info.value, 400, "invalid_request_error")
    assert e["param"] == field or field in e["message"]


def test_chat_n_2_is_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="auto", messages=CHAT, max_tokens=2, n=2)
    e = assert_openai_error(info.value, 400, "invalid_request_error")
    assert e["param"] == "n" or "n" in e["message"]


def test_prompt_longer_than_the_context_is_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="auto", prompt="the cat sat on the mat. " * 4000, max_tokens=4)
    assert_openai_error(info.value, 400, "invalid_request_error")


def test_unknown_adapter_in_a_mix_is_4xx(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.completions.create(model="auto", prompt="x", max_tokens=2,
                                  extra_body={"molora": {"adapters": {"nope": 1.0}}})
    assert 400 <= info.value.status_code < 500
    assert "nope" in assert_openai_error(info.value, info.value.status_code)["message"]


def test_malformed_json_and_unknown_routes(server):
    r = Raw("POST", server.url + "/v1/completions", b'{"model": "auto", "prompt": ')
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    r = Raw("GET", server.url + "/v1/no-such-route")
    assert r.status_code == 404
    assert "message" in r.json()["error"]


def test_server_still_serves_after_the_errors(client, oracle):
    assert complete(client, "code").choices[0].text == oracle["code"]["text"]


def test_health_and_metrics(server, client):
    client.completions.create(**split(server_request("base")))
    r = Raw("GET", server.url + "/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = Raw("GET", server.url + "/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    samples = [line for line in r.text.splitlines() if line and not line.startswith("#")]
    assert samples
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (-?[0-9.eE+-]+|[+-]?Inf|NaN)( -?[0-9]+)?$')
    assert all(sample.match(line) for line in samples), [s for s in samples if not sample.match(s)]
    assert any(line.startswith("# TYPE ") for line in r.text.splitlines())


# --- API key --------------------------------------------------------------------------------------------------------

def test_api_key_is_required_when_set(keyed_server):
    url = keyed_server.url + "/v1"
    wrong = openai.OpenAI(base_url=url, api_key="wrong-key", max_retries=0, timeout=60)
    with pytest.raises(openai.AuthenticationError) as info:
        wrong.models.list()
    assert_openai_error(info.value, 401, "authentication_error")
    with pytest.raises(openai.AuthenticationError):
        wrong.completions.create(model="auto", prompt="x", max_tokens=2)
    for path in ("/models", "/completions"):  # no Authorization header at all
        r = Raw("GET" if path == "/models" else "POST", url + path,
                None if path == "/models" else {"model": "auto", "prompt": "x", "max_tokens": 2})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    good = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=60)
    assert "auto" in {m.id for m in good.models.list()}
    assert good.completions.create(model="code", prompt="x", max_tokens=2).usage.completion_tokens > 0
