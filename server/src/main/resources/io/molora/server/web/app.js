// molora's chat page: streams replies from /v1/chat/completions (or /v1/completions) over server-sent events with
// molora.show_routes, and draws each token in the colour of the adapter(s) that served it. Plain script, no build.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const ui = {
    model: $("model"), mode: $("mode"), maxTokens: $("max-tokens"), temperature: $("temperature"),
    markers: $("markers"), keyLabel: $("key-label"), key: $("api-key"), legend: $("legend"), status: $("status"),
    log: $("log"), composer: $("composer"), prompt: $("prompt"), send: $("send"), stop: $("stop"), clear: $("clear"),
  };
  const PALETTE = 8;  // style.css defines .a0 ... .a7

  const state = {
    adapters: [],            // adapter names in /v1/models order; index -> colour class
    totals: new Map(),       // adapter name or "none" -> tokens served in this conversation
    messages: [],            // the chat so far, sent whole with each turn
    controller: null,        // AbortController of the request in flight
    needsKey: false,
  };

  // --- talking to the server ------------------------------------------------------------------------------------

  function headers() {
    const h = { "Content-Type": "application/json" };
    const key = ui.key.value.trim();
    if (key) h["Authorization"] = "Bearer " + key;
    return h;
  }

  /** The error message of a failed response: OpenAI's {"error": {"message"}} when the body has it. */
  async function errorOf(response) {
    let text = "";
    try { text = await response.text(); } catch (e) { /* body lost: the status says enough */ }
    try {
      const body = JSON.parse(text);
      if (body && body.error && body.error.message) return body.error.message + " (HTTP " + response.status + ")";
    } catch (e) { /* not JSON */ }
    return "HTTP " + response.status + (text ? ": " + text.slice(0, 200) : "");
  }

  function askForKey(message) {
    state.needsKey = true;
    ui.keyLabel.hidden = false;
    setStatus(message, true);
    ui.key.focus();
  }

  async function loadModels() {
    setStatus("Loading models…");
    let response;
    try {
      response = await fetch("v1/models", { headers: headers() });
    } catch (e) {
      setStatus("Cannot reach the server: " + e.message, true);
      return;
    }
    if (response.status === 401) {
      askForKey("This server needs an API key: enter it above.");
      return;
    }
    if (!response.ok) {
      setStatus("Listing models failed: " + (await errorOf(response)), true);
      return;
    }
    const list = (await response.json()).data || [];
    const kind = (m) => (m.molora && m.molora.kind) || "adapter";
    const order = { router: 0, adapter: 1, base: 2 };
    list.sort((a, b) => order[kind(a)] - order[kind(b)]);
    state.adapters = list.filter((m) => kind(m) === "adapter").map((m) => m.id);
    const previous = ui.model.value;
    ui.model.replaceChildren();
    for (const m of list) {
      const label = kind(m) === "router" ? m.id + " (router, per token)"
        : kind(m) === "base" ? m.id + " (base model, no adapter)" : m.id + " (adapter)";
      ui.model.append(new Option(label, m.id));
    }
    if (previous && list.some((m) => m.id === previous)) ui.model.value = previous;
    renderLegend();
    setStatus(list.length ? "Ready." : "The server lists no models.", list.length === 0);
  }

  /**
   * Sends one request with stream: true and calls onChunk(json) for each server-sent event until [DONE]. SSE framing:
   * events end with a blank line; each "data:" line carries one JSON chunk.
   */
  async function stream(path, body, onChunk, signal) {
    const response = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body), signal });
    if (response.status === 401) {
      askForKey("This server needs an API key (or the one given is wrong): enter it above and send again.");
      throw new Error(await errorOf(response));
    }
    if (!response.ok) throw new Error(await errorOf(response));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let done = false;
    while (!done) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
        if (!data) continue;
        if (data === "[DONE]") { done = true; break; }
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message || "the server reported an error");
        onChunk(chunk);
      }
    }
  }

  // --- routes and colours ---------------------------------------------------------------------------------------

  /** "code" -> {name: "code", weight: 1}; "math:0.3" -> {name: "math", weight: 0.3} (complete's route format). */
  function parseRoute(entry) {
    const at = entry.lastIndexOf(":");
    if (at > 0) {
      const w = Number(entry.slice(at + 1));
      if (entry.slice(at + 1) !== "" && Number.isFinite(w)) return { name: entry.slice(0, at), weight: w };
    }
    return { name: entry, weight: 1 };
  }

  function colourIndex(name) {
    let i = state.adapters.indexOf(name);
    if (i < 0) {  // an adapter the model list did not name: give it the next colour and a legend entry
      state.adapters.push(name);
      i = state.adapters.length - 1;
      renderLegend();
    }
    return i % PALETTE;
  }

  /** Describes a route for the tooltip and the run markers: "code", "code 0.70 + math 0.30", "base (no adapter)". */
  function describe(parts) {
    if (parts === null) return "route unknown";
    if (parts.length === 0) return "base (no adapter)";
    if (parts.length === 1 && parts[0].weight === 1) return parts[0].name;
    return parts.map((p) => p.name + " " + p.weight.toFixed(2)).join(" + ");
  }

  /** Styles one token span for its route: one adapter = its tint; several = bands sized by weight; base = none. */
  function paint(span, parts) {
    span.className = "tok";
    if (parts === null) { span.classList.add("unknown"); return; }
    if (parts.length === 0) { span.classList.add("base"); return; }
    const sorted = parts.slice().sort((a, b) => b.weight - a.weight);
    span.classList.add("a" + colourIndex(sorted[0].name));  // underline style of the heaviest adapter
    if (parts.length > 1) {
      span.classList.add("mix");
      const total = parts.reduce((s, p) => s + Math.max(p.weight, 0), 0) || parts.length;
      let at = 0;
      const stops = [];
      for (const p of sorted) {
        const to = at + 100 * (total ? Math.max(p.weight, 0) / total : 1 / parts.length);
        const c = "var(--a" + colourIndex(p.name) + "-bg)";
        stops.push(c + " " + at.toFixed(1) + "%", c + " " + to.toFixed(1) + "%");
        at = to;
      }
      span.style.background = "linear-gradient(to bottom, " + stops.join(", ") + ")";
    }
  }

  function count(counts, parts) {
    const keys = parts === null ? ["unknown"] : parts.length === 0 ? ["none"] : parts.map((p) => p.name);
    for (const k of keys) counts.set(k, (counts.get(k) || 0) + 1);
  }

  function countsText(counts) {
    return [...counts].filter(([, n]) => n > 0).map(([k, n]) => (k === "none" ? "base" : k) + " " + n).join(" · ");
  }

  function renderLegend() {
    const items = [];
    state.adapters.forEach((name, i) => {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "tok swatch a" + (i % PALETTE);
      sw.textContent = name;
      sw.title = "adapter " + name;
      const n = document.createElement("span");
      n.className = "count";
      n.textContent = String(state.totals.get(name) || 0);
      n.setAttribute("aria-label", (state.totals.get(name) || 0) + " tokens");
      n.dataset.adapter = name;
      li.append(sw, n);
      items.push(li);
    });
    const base = document.createElement("li");
    const bs = document.createElement("span");
    bs.className = "tok swatch base";
    bs.textContent = "base";
    bs.title = "base model alone (no adapter)";
    const bn = document.createElement("span");
    bn.className = "count";
    bn.dataset.adapter = "none";
    bn.textContent = String(state.totals.get("none") || 0);
    bn.setAttribute("aria-label", (state.totals.get("none") || 0) + " tokens");
    base.append(bs, bn);
    items.push(base);
    if (state.adapters.length > 1) {
      const mix = document.createElement("li");
      const ms = document.createElement("span");
      paint(ms, [{ name: state.adapters[0], weight: 0.5 }, { name: state.adapters[1], weight: 0.5 }]);
      ms.classList.add("swatch");
      ms.textContent = "mix";
      ms.title = "several adapters at once: bands sized by weight, underlined as the heaviest";
      const note = document.createElement("span");
      note.className = "count";
      note.textContent = "bands by weight";
      mix.append(ms, note);
      items.push(mix);
    }
    ui.legend.replaceChildren(...items);
  }

  // --- the conversation -----------------------------------------------------------------------------------------

  function setStatus(text, error) {
    ui.status.textContent = text;
    ui.status.classList.toggle("error", !!error);
  }

  function addMessage(role, text) {
    const li = document.createElement("li");
    li.className = "msg " + role;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "you" : "molora · " + ui.model.value;
    const body = document.createElement("div");
    body.className = "text";
    if (text !== undefined) body.textContent = text;
    li.append(who, body);
    ui.log.append(li);
    li.scrollIntoView({ block: "end" });
    return li;
  }

  /** A reply being streamed in: appends token spans, tracks runs of one route and counts. */
  function replyView(li) {
    const body = li.querySelector(".text");
    const counts = new Map();
    let lastKey = null;
    function token(text, parts) {
      const key = describe(parts);
      if (text !== "") {
        const span = document.createElement("span");
        paint(span, parts);
        span.textContent = text;
        span.title = key;
        span.dataset.route = key;
        if (key !== lastKey) {
          span.classList.add("run-start");
          span.dataset.label = parts && parts.length === 0 ? "base" : key;
        }
        lastKey = key;
        body.append(span);
      }
    }
    return {
      /** One streamed piece of text with the routes of the tokens it holds (null when the server sent none). */
      piece(text, routes) {
        if (Array.isArray(routes) && routes.length > 0) {
          const parsed = routes.map((r) => Array.isArray(r.adapters) ? r.adapters.map(parseRoute) : null);
          parsed.forEach((p) => count(counts, p));
          const joined = routes.map((r) => r.token || "").join("");
          if (joined === text) {
            routes.forEach((r, i) => token(r.token || "", parsed[i]));
          } else {  // the chunk's text is not split along its tokens (e.g. a character across tokens): one span
            token(text, parsed[parsed.length - 1]);
          }
        } else if (text !== "") {
          token(text, null);
        }
        li.scrollIntoView({ block: "end" });
      },
      /** The server's own count of tokens per adapter replaces ours (it also covers tokens without text). */
      finish(adapterTokens, reason) {
        const final = adapterTokens ? new Map(Object.entries(adapterTokens)) : counts;
        for (const [k, n] of final) state.totals.set(k, (state.totals.get(k) || 0) + n);
        renderLegend();
        const summary = document.createElement("span");
        summary.className = "summary";
        summary.textContent = "tokens: " + (countsText(final) || "none") + (reason ? " · finish: " + reason : "");
        li.append(summary);
      },
      fail(message) {
        li.classList.add("failed");
        const e = document.createElement("span");
        e.className = "error-text";
        e.setAttribute("role", "alert");
        e.textContent = (body.childNodes.length ? " " : "") + "[" + message + "]";
        body.append(e);
      },
      text() { return [...body.querySelectorAll(".tok")].map((s) => s.textContent).join(""); },
    };
  }

  async function send(text) {
    const chat = ui.mode.value === "chat";
    const maxTokens = Math.max(1, parseInt(ui.maxTokens.value, 10) || 64);
    const temperature = Math.max(0, Number(ui.temperature.value) || 0);
    const body = {
      model: ui.model.value, stream: true, max_tokens: maxTokens, temperature,
      molora: { show_routes: true },
    };
    let path;
    if (chat) {
      state.messages.push({ role: "user", content: text });
      body.messages = state.messages.slice();
      path = "v1/chat/completions";
      addMessage("user", text);
    } else {
      body.prompt = text;
      path = "v1/completions";
    }
    const li = addMessage("assistant");
    if (!chat) {
      const echo = document.createElement("span");
      echo.className = "prompt-echo";
      echo.textContent = text;
      echo.title = "your text";
      li.querySelector(".text").append(echo);
    }
    const view = replyView(li);
    state.controller = new AbortController();
    busy(true);
    setStatus("Generating…");
    let reason = null;
    let adapterTokens = null;
    try {
      await stream(path, body, (chunk) => {
        const choice = (chunk.choices || [])[0];
        const molora = chunk.molora || {};
        if (choice) {
          const piece = chat ? ((choice.delta || {}).content || "") : (choice.text || "");
          if (piece !== "" || (molora.routes && molora.routes.length)) view.piece(piece, molora.routes);
          if (choice.finish_reason) reason = choice.finish_reason;
        }
        if (molora.adapter_tokens) adapterTokens = molora.adapter_tokens;
      }, state.controller.signal);
      view.finish(adapterTokens, reason);
      if (chat) state.messages.push({ role: "assistant", content: view.text() });
      setStatus("Done.");
    } catch (e) {
      const stopped = e.name === "AbortError";
      view.fail(stopped ? "stopped" : e.message);
      view.finish(null, stopped ? "stopped" : "error");
      if (chat) state.messages.push({ role: "assistant", content: view.text() });
      setStatus(stopped ? "Stopped." : e.message, !stopped);
    } finally {
      state.controller = null;
      busy(false);
    }
  }

  function busy(on) {
    ui.send.disabled = on;
    ui.stop.disabled = !on;
    ui.log.setAttribute("aria-busy", on ? "true" : "false");
  }

  // --- wiring ---------------------------------------------------------------------------------------------------

  ui.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = ui.prompt.value;
    if (!text.trim() || state.controller) return;
    if (!ui.model.value) { setStatus("No model to send to: the model list did not load.", true); return; }
    ui.prompt.value = "";
    send(text);
  });
  ui.prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  ui.stop.addEventListener("click", () => { if (state.controller) state.controller.abort(); });
  ui.clear.addEventListener("click", () => {
    if (state.controller) state.controller.abort();
    state.messages = [];
    state.totals.clear();
    ui.log.replaceChildren();
    renderLegend();
    setStatus("Cleared.");
  });
  ui.markers.addEventListener("change", () => ui.log.classList.toggle("show-markers", ui.markers.checked));
  ui.key.addEventListener("change", () => { if (state.needsKey) loadModels(); });

  renderLegend();
  loadModels();
})();
