"""The page at GET / in a real browser: Debian's headless Chromium driven by Playwright (its own browser downloads are
not used; MOLORA_CHROMIUM or `chromium` on PATH names the executable). Sends a message, checks the streamed reply
against the same request through the openai client, its colours against the legend, and takes a screenshot
(build/serve-page.png; with MOLORA_UPDATE_SCREENSHOT=1 also docs/images/serve-page.png)."""

import http.server
import os
import shutil
import threading

import pytest
from playwright.sync_api import expect, sync_playwright

import molora_server
from conftest import KEY, MIXED_PROMPT

SHOT_DIR = molora_server.ROOT / "server" / "target" / "python-tests"


def chromium():
    exe = os.environ.get("MOLORA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.fail("no chromium: install Debian's (apt-get install chromium) or set MOLORA_CHROMIUM")
    return exe


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def routes_of(client, **req):
    """The reply's text and molora extension for the same request through the official client."""
    if "messages" in req:
        r = client.chat.completions.create(**req, extra_body={"molora": {"show_routes": True}})
        return r.choices[0].message.content, r.model_extra["molora"]
    r = client.completions.create(**req, extra_body={"molora": {"show_routes": True}})
    return r.choices[0].text, r.model_extra["molora"]


def send(page, text):
    page.fill("#prompt", text)
    page.click("#send")
    # the reply is done when its summary line (tokens per adapter, finish reason) appears
    reply = page.locator("li.msg.assistant").last
    expect(reply.locator(".summary")).to_be_visible(timeout=180_000)
    return reply


def test_page_streams_a_routed_reply_coloured_by_adapter(server, client, browser):
    page = browser.new_page(viewport={"width": 900, "height": 700})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    expect(page).to_have_title("molora: per-token routing")
    options = page.locator("#model option")
    expect(options).to_have_count(5)
    assert sorted(options.evaluate_all("os => os.map(o => o.value)")) == sorted(
        ["auto", molora_server.BASE_ID, *molora_server.DOMAINS])
    # the legend: each adapter, the base and mixes
    legend = page.locator("#legend .swatch")
    assert legend.all_text_contents() == ["code", "prose", "math", "base", "mix"]

    # a chat turn routed by the router
    page.select_option("#model", "auto")
    page.fill("#max-tokens", "24")
    reply = send(page, "Write a Python function that adds two numbers.")
    tokens = reply.locator(".tok")
    shown = "".join(tokens.all_text_contents())
    want, m = routes_of(client, model="auto", max_tokens=24, temperature=0,
                        messages=[{"role": "user", "content": "Write a Python function that adds two numbers."}])
    assert shown == want, "the page's reply differs from the same request through the openai client"
    assert tokens.count() == sum(1 for r in m["routes"] if r["token"])

    # every token's colour and tooltip follow its route; an adapter's tokens look like its legend swatch
    swatch_bg = {name: page.locator("#legend .swatch", has_text=name).first.evaluate(
        "e => getComputedStyle(e).backgroundColor") for name in molora_server.DOMAINS}
    assert len(set(swatch_bg.values())) == 3, swatch_bg
    seen = tokens.evaluate_all(
        "ts => ts.map(t => [t.title, getComputedStyle(t).backgroundColor, getComputedStyle(t).textDecorationLine])")
    routed = [r for r in m["routes"] if r["token"]]
    for (title, bg, deco), route in zip(seen, routed):
        if route["adapters"] == []:
            assert title == "base (no adapter)" and deco == "none"
        elif len(route["adapters"]) == 1 and ":" not in route["adapters"][0]:
            name = route["adapters"][0]
            assert title == name and bg == swatch_bg[name] and deco == "underline"
        else:
            assert all(a.split(":")[0] in title for a in route["adapters"]), title
    # per-adapter counts: the summary line and the legend hold the server's adapter_tokens
    counts = {li.locator(".swatch").text_content(): li.locator(".count").text_content()
              for li in page.locator("#legend li").all()}
    for name, n in m["adapter_tokens"].items():
        assert counts["base" if name == "none" else name] == str(n), (counts, m["adapter_tokens"])

    # route names at each change, on demand: one label per run of one route
    page.check("#markers")
    runs = reply.locator(".tok.run-start")
    assert runs.count() >= 1
    assert runs.first.evaluate("e => getComputedStyle(e, '::before').content") != "none"
    assert not errors, errors
    page.close()


def test_page_screenshot_of_a_routed_continuation(server, browser):
    """The picture for the README: the demo's mixed prompt continued, routed by the router."""
    page = browser.new_page(viewport={"width": 820, "height": 1000})
    page.goto(server.url + "/")
    expect(page.locator("#model option")).to_have_count(5)
    page.select_option("#model", "auto")
    page.select_option("#mode", "text")
    page.fill("#max-tokens", "48")
    reply = send(page, MIXED_PROMPT)
    assert reply.locator(".prompt-echo").text_content() == MIXED_PROMPT
    assert reply.locator(".tok").count() > 0
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SHOT_DIR / "serve-page.png"
    page.locator("body").screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("MOLORA_UPDATE_SCREENSHOT") == "1":
        target = molora_server.ROOT / "docs" / "images" / "serve-page.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
    page.close()


def test_page_fits_a_narrow_window(server, browser):
    page = browser.new_page(viewport={"width": 360, "height": 740})
    page.goto(server.url + "/")
    expect(page.locator("#model option")).to_have_count(5)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    for sel in ("#prompt", "#send", "#model", "#legend"):
        box = page.locator(sel).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 361, (sel, box)
    page.close()


def test_page_needs_no_key_when_the_server_needs_none(server, browser):
    page = browser.new_page()
    page.goto(server.url + "/")
    expect(page.locator("#model option")).to_have_count(5)
    expect(page.locator("#key-label")).to_be_hidden()
    page.close()


def test_page_asks_for_the_key_when_the_server_needs_it(keyed_server, browser):
    page = browser.new_page()
    page.goto(keyed_server.url + "/")
    expect(page.locator("#key-label")).to_be_visible(timeout=60_000)
    expect(page.locator("#status")).to_contain_text("API key")
    page.fill("#api-key", KEY)
    page.dispatch_event("#api-key", "change")
    expect(page.locator("#model option")).to_have_count(5, timeout=60_000)
    page.close()


# --- pages on other origins (CORS) ----------------------------------------------------------------------------------

class _Elsewhere(http.server.BaseHTTPRequestHandler):
    """An empty page: a front-end served from another origin than the server's."""

    def do_GET(self):
        body = b"<!doctype html><title>elsewhere</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def origins():
    """Two origins of pages elsewhere (two ports of this machine): the first is allowed by cors_server, the second
    is not."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Elsewhere) for _ in range(2)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    for s in servers:
        s.shutdown()


@pytest.fixture(scope="module")
def cors_server(origins):
    """A server with a key that lets pages from the first origin call it."""
    with molora_server.Server("--api-key", KEY, "--cors-origin", origins[0]) as s:
        yield s


# what a front-end on another origin does: a chat request with the key (a preflighted request: JSON, Authorization)
FETCH = """async ([url, key]) => {
  try {
    const r = await fetch(url + "/v1/chat/completions", {method: "POST",
        headers: {"Content-Type": "application/json", "Authorization": "Bearer " + key, "X-Stainless-Lang": "js"},
        body: JSON.stringify({model: "code", max_tokens: 4, temperature: 0,
                              messages: [{role: "user", content: "def add(a, b):"}]})});
    return {status: r.status, body: await r.json()};
  } catch (e) {
    return {error: String(e)};
  }
}"""


def fetch_from(browser, origin, server, key):
    page = browser.new_page()
    page.goto(origin + "/")
    try:
        return page.evaluate(FETCH, [server.url, key])
    finally:
        page.close()


def test_a_page_on_an_allowed_origin_calls_the_api(cors_server, origins, browser):
    got = fetch_from(browser, origins[0], cors_server, KEY)
    assert got.get("status") == 200, got
    assert got["body"]["choices"][0]["message"]["role"] == "assistant"
    assert got["body"]["usage"]["completion_tokens"] > 0
    # with a wrong key the page reads the 401 and its message (it can ask for the key), not a network error
    got = fetch_from(browser, origins[0], cors_server, "wrong-key")
    assert got.get("status") == 401, got
    assert got["body"]["error"]["type"] == "authentication_error", got


def preflight(server, origin):
    import urllib.error
    import urllib.request
    req = urllib.request.Request(server.url + "/v1/chat/completions", method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Access-Control-Allow-Origin")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Access-Control-Allow-Origin")


def test_the_browser_blocks_pages_on_other_origins(server, cors_server, origins, browser):
    # an origin the server does not name, and a server that names none (the default)
    for origin, s in ((origins[1], cors_server), (origins[0], server)):
        got = fetch_from(browser, origin, s, KEY)
        assert "error" in got and "Failed to fetch" in got["error"], (origin, got)
    # what the browser saw: no Access-Control-Allow-Origin for either (403 from a server that names other origins)
    assert preflight(cors_server, origins[1]) == (403, None)
    assert preflight(server, origins[0])[1] is None
    assert preflight(cors_server, origins[0]) == (204, origins[0])
