// molora: checks the per-token LoRA routing patches (native-build/patches/) against stock llama.cpp.
//
// build & run against a llama.cpp v0.5.0 tree with the patch applied and built (BUILD_SHARED_LIBS=ON):
//   PYTHONPATH=$LLAMA/gguf-py python3 make_tiny.py $DIR $LLAMA/models/ggml-vocab-llama-spm.gguf
//   g++ -O1 -std=c++17 test-lora-routing.cpp -I$LLAMA/include -I$LLAMA/ggml/include -L$LLAMA/build/bin
//       -lllama -lggml -lggml-base -Wl,-rpath,$LLAMA/build/bin -o test-lora-routing
//   ./test-lora-routing $DIR          (CHECK_NGL=99 to offload to a GPU build; CHECK_BACKEND_DIR=<build>/bin where the
//                                      backends are modules, as in native-build's CUDA builds; exit code 0 = all ok)
//
// - routed in-graph path vs the stock segmented path (llama_set_adapters_lora per maximal run of one route),
//   several sequences interleaved in one batch larger than n_ubatch, partial and full outputs,
//   unified and per-sequence KV caches
// - constant route == stock with that adapter; constant top-2 == stock with both adapters at w*s
// - changing routes between decodes reuses the graph (n_reused grows) and never re-reserves the scheduler
// - all of it for both forms (llama_lora_routing_params.form = CONCAT | GATHER)
// - routes apply to one decode: a decode with no routes set uses no adapter, not the previous batch's routes
// - llama_lora_routing_bytes == the bytes llama_set_lora_routing allocates (F32 and F16 adapters, both forms), also
//   when asked on a metadata-only (no_alloc) load of the model
// - work follows the routes (concatenated form): no LoRA product for a ubatch of unrouted tokens, one adapter's rows
//   for a ubatch routed to one, a graph reused for every ubatch within its range and grown once for one beyond it
// - bad input returns an error code: params out of range, an adapter on MoE expert tensors (no abort)
#include "llama.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

static int g_n_reserve = 0;
static int g_packed_f16 = -1, g_packed_f32 = -1; // from the last registration's log line
static size_t g_alloc_bytes = 0;                // the routing buffers llama_set_lora_routing logged allocating

static void log_cb(ggml_log_level level, const char * text, void *) {
    if (strstr(text, "reserving ...")) {
        g_n_reserve++;
    }
    if (const char * p = strstr(text, " weights (")) {
        sscanf(p, " weights (%d F16, %d F32)", &g_packed_f16, &g_packed_f32);
    }
    if (strstr(text, "LoRA routing buffer size = ")) {
        size_t n = 0;
        if (const char * p = strrchr(text, '(')) {
            if (sscanf(p, "(%zu bytes)", &n) == 1) g_alloc_bytes += n;
        }
    }
    if (level >= GGML_LOG_LEVEL_WARN || getenv("CHECK_VERBOSE")) {
        fputs(text, stderr);
    }
}

static int g_fail = 0;

static void expect(bool ok, const char * what) {
    printf("%-80s %s\n", what, ok ? "ok" : "FAIL");
    if (!ok) {
        g_fail++;
    }
}

struct route { int32_t id; float w; };   // id -1: no adapter

static llama_model * g_model;
static llama_adapter_lora * g_ad[3];
// With CHECK_NGL non-zero (negative = all layers) the checks run offloaded, and a CPU copy of the model and adapters gives the exact reference:
// GPU kernels round differently from one batch shape to the next (cuBLAS runs F32 products as TF32 in ggml-cuda,
// small batches take tensor-core kernels), so on a GPU "routed == stock" means routed is as close to the CPU
// result as stock llama.cpp on the same GPU is. A routing bug is an O(1) difference (1.4-3.1 with the ubatch index
// mapping disabled).
static llama_model * g_model_cpu;
static llama_adapter_lora * g_ad_cpu[3];
static const float g_scale[3] = { 1.0f, 0.5f, 2.0f };
static int32_t g_n_vocab;
static llama_lora_routing_form g_form = LLAMA_LORA_ROUTING_FORM_CONCAT; // the form under test

// routing params of the form under test with k routes per token
static llama_lora_routing_params rparams(int32_t k) {
    auto p = llama_lora_routing_default_params();
    p.form = g_form;
    p.max_routes_per_token = k;
    return p;
}

// what llama_lora_routing_bytes says the copies take (all devices), -1 on error
static long long routing_bytes(const llama_model * model, llama_adapter_lora ** ad, const float * sc, size_t n,
        llama_lora_routing_params p) {
    std::vector<size_t> bytes(ggml_backend_dev_count());
    if (llama_lora_routing_bytes(model, ad, sc, n, p, bytes.data(), bytes.size()) != 0) return -1;
    long long sum = 0;
    for (size_t b : bytes) sum += (long long) b;
    return sum;
}

// registers and checks that llama_lora_routing_bytes, asked first, equals what was allocated
static int32_t register_checked(llama_context * ctx, llama_adapter_lora ** ad, const float * sc, size_t n,
        llama_lora_routing_params p, const char * what) {
    const long long predicted = routing_bytes(llama_get_model(ctx), ad, sc, n, p);
    g_alloc_bytes = 0;
    const int32_t rc = llama_set_lora_routing(ctx, ad, sc, n, p);
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: llama_lora_routing_bytes %lld == allocated %zu", what, predicted, g_alloc_bytes);
    expect(rc == 0 && predicted > 0 && (size_t) predicted == g_alloc_bytes, msg);
    return rc;
}

// the contexts of every check: cb_eval, when given, sees every node of the graphs the context computes
static llama_context * new_ctx_of(llama_model * model, bool unified, ggml_backend_sched_eval_callback cb_eval = nullptr) {
    auto cp = llama_context_default_params();
    cp.n_ctx      = 512;
    cp.n_batch    = 64;
    cp.n_ubatch   = 16;
    cp.n_seq_max  = 4;
    cp.kv_unified = unified;
    // exact attention: with flash attention (llama.cpp's default) the CPU rounds Q, K and V to F16, which turns the
    // routed path's last-bit differences into ~1e-3 of the logit range on some CPUs (AVX-512) and not on others
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    cp.n_threads = cp.n_threads_batch = 2;
    cp.no_perf    = false;
    cp.cb_eval    = cb_eval;
    return llama_init_from_model(model, cp);
}

static llama_context * new_ctx(bool unified) { return new_ctx_of(g_model, unified); }

// the matrix products of the graphs a context computes, counted by the scheduler's eval callback (asked for every
// node; answering false observes none, so the graph runs as without it)
static int       g_mm_nodes = 0;
static long long g_mm_elements = 0;

static bool count_products(ggml_tensor * t, bool ask, void *) {
    if (ask && t->op == GGML_OP_MUL_MAT) {
        g_mm_nodes++;
        g_mm_elements += ggml_nelements(t->src[0]);
    }
    return false;
}

static llama_context * new_ctx_counting(bool unified) { return new_ctx_of(g_model, unified, count_products); }

// stock reference: one sequence, decoded run by run with llama_set_adapters_lora (single route per run)
static std::vector<float> stock_segmented(llama_context * ctx, llama_adapter_lora ** ad, const std::vector<llama_token> & toks, const std::vector<route> & r) {
    llama_memory_clear(llama_get_memory(ctx), true);
    std::vector<float> out(toks.size()*g_n_vocab);
    llama_batch b = llama_batch_init((int) toks.size(), 0, 1);
    size_t i0 = 0;
    while (i0 < toks.size()) {
        size_t i1 = i0 + 1;
        while (i1 < toks.size() && r[i1].id == r[i0].id && r[i1].w == r[i0].w) {
            i1++;
        }
        if (r[i0].id >= 0) {
            float s = r[i0].w*g_scale[r[i0].id];
            llama_set_adapters_lora(ctx, &ad[r[i0].id], 1, &s);
        } else {
            llama_set_adapters_lora(ctx, nullptr, 0, nullptr);
        }
        b.n_tokens = 0;
        for (size_t i = i0; i < i1; ++i) {
            b.token[b.n_tokens] = toks[i]; b.pos[b.n_tokens] = (llama_pos) i;
            b.n_seq_id[b.n_tokens] = 1; b.seq_id[b.n_tokens][0] = 0; b.logits[b.n_tokens] = 1;
            b.n_tokens++;
        }
        if (llama_decode(ctx, b) != 0) { fprintf(stderr, "decode failed\n"); exit(1); }
        for (size_t i = i0; i < i1; ++i) {
            memcpy(&out[i*g_n_vocab], llama_get_logits_ith(ctx, (int) (i - i0)), g_n_vocab*sizeof(float));
        }
        i0 = i1;
    }
    llama_batch_free(b);
    llama_set_adapters_lora(ctx, nullptr, 0, nullptr);
    return out;
}

// max |a-b| relative to max |b|
static double rel_diff(const float * a, const float * b, size_t n, double * amax = nullptr) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; ++i) {
        d = std::max(d, (double) fabsf(a[i] - b[i]));
        m = std::max(m, (double) fabsf(b[i]));
    }
    if (amax) *amax = m;
    return d/std::max(m, 1e-6);
}

static double g_worst = 0;

// pass mark for routed-vs-reference: 1e-4 on the CPU (exact attention, see new_ctx_of); offloaded, 8x what stock
// llama.cpp on the same GPU deviates from the CPU result in the same scenario (its "floor")
static double tolerance(double floor) { return std::max(1e-4, 8*floor); }

// stock llama.cpp with one adapter fixed decoding batch b (every output) on a fresh context of `model`
static std::vector<float> stock_batch(llama_model * model, llama_adapter_lora * ad, float scale, bool unified, llama_batch & b) {
    llama_context * c = new_ctx_of(model, unified);
    llama_set_adapters_lora(c, &ad, 1, &scale);
    if (llama_decode(c, b) != 0) { fprintf(stderr, "decode failed\n"); exit(1); }
    std::vector<float> out;
    for (int k = 0; k < b.n_tokens; ++k) {
        if (!b.logits[k]) continue;
        const float * l = llama_get_logits_ith(c, k);
        out.insert(out.end(), l, l + g_n_vocab);
    }
    llama_free(c);
    return out;
}

// routed: all sequences interleaved in one batch, one llama_set_lora_routes + one llama_decode
static void check_multiseq(bool unified, bool all_outputs, std::mt19937 & rng, const char * label) {
    llama_context * ref = new_ctx(true);
    llama_context * ctx = new_ctx(unified);
    if (llama_set_lora_routing(ctx, g_ad, g_scale, 3, rparams(2)) != 0) { expect(false, "llama_set_lora_routing"); return; }

    const int n_seq = 3;
    const int lens[n_seq] = { 20, 17, 13 };    // 50 tokens > n_ubatch 16
    std::vector<std::vector<llama_token>> toks(n_seq);
    std::vector<std::vector<route>>       rts(n_seq);
    std::uniform_int_distribution<int> tok_d(3, g_n_vocab - 1), ad_d(-1, 2);
    std::uniform_real_distribution<float> w_d(0.5f, 1.5f);
    for (int s = 0; s < n_seq; ++s) {
        for (int i = 0; i < lens[s]; ++i) toks[s].push_back(tok_d(rng));
        if (s == 0) {        // switching every token
            for (int i = 0; i < lens[s]; ++i) rts[s].push_back({ ad_d(rng), w_d(rng) });
        } else if (s == 1) { // long runs
            route cur = { 1, 1.0f };
            for (int i = 0; i < lens[s]; ++i) {
                if (i % 6 == 0) cur = { ad_d(rng), w_d(rng) };
                rts[s].push_back(cur);
            }
        } else {             // none
            for (int i = 0; i < lens[s]; ++i) rts[s].push_back({ -1, 0.0f });
        }
    }

    // interleave: batch position -> (seq, i)
    std::vector<std::pair<int, int>> order;
    for (int i = 0; i < 20; ++i) for (int s = 0; s < n_seq; ++s) if (i < lens[s]) order.push_back({ s, i });

    llama_batch b = llama_batch_init((int) order.size(), 0, 1);
    std::vector<int32_t> ids; std::vector<float> ws;
    for (auto [s, i] : order) {
        const int k = b.n_tokens;
        b.token[k] = toks[s][i]; b.pos[k] = i; b.n_seq_id[k] = 1; b.seq_id[k][0] = s;
        b.logits[k] = all_outputs || i % 3 == 0 || i == lens[s] - 1;
        b.n_tokens++;
        // k = 2 slots: the route and an unused slot (-1)
        ids.push_back(rts[s][i].id); ws.push_back(rts[s][i].w);
        ids.push_back(-1);           ws.push_back(123.0f);
    }
    expect(llama_set_lora_routes(ctx, ids.data(), ws.data(), b.n_tokens, 2) == 0, "llama_set_lora_routes");
    ids.assign(ids.size(), 7); // routes are copied: clobbering the caller's buffer must not matter
    expect(llama_decode(ctx, b) == 0, "routed decode");

    double worst = 0, floor = 0;
    llama_context * ref_cpu = g_model_cpu ? new_ctx_of(g_model_cpu, true) : nullptr;
    for (int s = 0; s < n_seq; ++s) {
        auto want = stock_segmented(ref, g_ad, toks[s], rts[s]);
        auto exact = ref_cpu ? stock_segmented(ref_cpu, g_ad_cpu, toks[s], rts[s]) : want;
        for (int k = 0; k < b.n_tokens; ++k) {
            if (order[k].first != s || !b.logits[k]) continue;
            const size_t at = order[k].second*g_n_vocab;
            worst = std::max(worst, rel_diff(llama_get_logits_ith(ctx, k), &exact[at], g_n_vocab));
            floor = std::max(floor, ref_cpu ? rel_diff(&want[at], &exact[at], g_n_vocab) : 0.0);
        }
    }
    if (ref_cpu) {
        llama_free(ref_cpu);
        // the segmented reference decodes short runs, the routed path whole ubatches, and a GPU picks its kernels by
        // batch shape: the floor also covers stock llama.cpp decoding this very batch (adapter a1 fixed)
        auto gpu = stock_batch(g_model, g_ad[1], g_scale[1], unified, b);
        auto cpu = stock_batch(g_model_cpu, g_ad_cpu[1], g_scale[1], unified, b);
        for (size_t i = 0; i < gpu.size(); i += g_n_vocab) {
            floor = std::max(floor, rel_diff(&gpu[i], &cpu[i], g_n_vocab));
        }
    }
    g_worst = std::max(g_worst, worst);
    char msg[256];
    if (g_model_cpu) {
        snprintf(msg, sizeof(msg), "%s: routed vs CPU %.2e (stock on GPU vs CPU %.2e)", label, worst, floor);
    } else {
        snprintf(msg, sizeof(msg), "%s: routed vs stock segmented, max rel diff %.2e", label, worst);
    }
    expect(worst < tolerance(floor), msg);

    llama_batch_free(b);
    llama_free(ctx);
    llama_free(ref);
}

static std::vector<float> decode_seq(llama_context * ctx, const std::vector<llama_token> & toks) {
    llama_memory_clear(llama_get_memory(ctx), true);
    llama_batch b = llama_batch_init((int) toks.size(), 0, 1);
    for (size_t i = 0; i < toks.size(); ++i) {
        b.token[i] = toks[i]; b.pos[i] = (llama_pos) i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1;
    }
    b.n_tokens = (int) toks.size();
    if (llama_decode(ctx, b) != 0) { fprintf(stderr, "decode failed\n"); exit(1); }
    std::vector<float> out(toks.size()*g_n_vocab);
    for (size_t i = 0; i < toks.size(); ++i) memcpy(&out[i*g_n_vocab], llama_get_logits_ith(ctx, (int) i), g_n_vocab*sizeof(float));
    llama_batch_free(b);
    return out;
}

// routed logits `got` against stock llama.cpp with `ad` at `scales`: {difference, floor}. On the CPU the reference is
// stock on the same model; offloaded it is stock on the CPU copy, and the floor is stock-on-GPU vs stock-on-CPU.
// stock llama.cpp with a fixed adapter set decoding toks on a fresh context of `model`
static std::vector<float> stock_seq(llama_model * model, llama_adapter_lora ** set, const float * scales, int n,
        const std::vector<llama_token> & toks) {
    llama_context * ref = new_ctx_of(model, true);
    llama_set_adapters_lora(ref, set, n, const_cast<float *>(scales));
    auto out = decode_seq(ref, toks);
    llama_free(ref);
    return out;
}

static std::pair<double, double> versus_stock(const std::vector<float> & got, const std::vector<llama_token> & toks,
        llama_adapter_lora ** ad, llama_adapter_lora ** ad_cpu, const float * scales, int n) {
    auto want = stock_seq(g_model, ad, scales, n, toks);
    if (!g_model_cpu) {
        return { rel_diff(got.data(), want.data(), got.size()), 0.0 };
    }
    auto exact = stock_seq(g_model_cpu, ad_cpu, scales, n, toks);
    return { rel_diff(got.data(), exact.data(), got.size()), rel_diff(want.data(), exact.data(), want.size()) };
}

int main(int argc, char ** argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s <dir>\n", argv[0]); return 2; }
    const std::string dir = argv[1];
    llama_log_set(log_cb, nullptr);
    // a GGML_BACKEND_DL build (native-build's CUDA builds) has its backends as modules in <build>/bin: CHECK_BACKEND_DIR
    if (getenv("CHECK_BACKEND_DIR")) ggml_backend_load_all_from_path(getenv("CHECK_BACKEND_DIR"));
    llama_backend_init();

    expect(llama_supports_lora_routing(), "llama_supports_lora_routing");

    // the tiny model and its three adapters a0..a2, with n_gpu_layers layers offloaded; false if any fails to load
    auto load = [&](int n_gpu_layers, llama_model *& model, llama_adapter_lora ** ad) {
        auto mp = llama_model_default_params();
        mp.n_gpu_layers = n_gpu_layers;
        model = llama_model_load_from_file((dir + "/tiny.gguf").c_str(), mp);
        for (int i = 0; model && i < 3; ++i) {
            ad[i] = llama_adapter_lora_init(model, (dir + "/a" + std::to_string(i) + ".gguf").c_str());
        }
        return model && ad[0] && ad[1] && ad[2];
    };
    const int ngl = getenv("CHECK_NGL") ? atoi(getenv("CHECK_NGL")) : 0;
    if (!load(ngl, g_model, g_ad)) { fprintf(stderr, "model or adapter load failed\n"); return 1; }
    g_n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(g_model));
    if (ngl != 0) {
        if (!load(0, g_model_cpu, g_ad_cpu)) { fprintf(stderr, "CPU reference load failed\n"); return 1; }
        printf("offloaded (CHECK_NGL=%d): routed results are compared with stock llama.cpp on the CPU\n", ngl);
    }

    // both forms of the patches: concatenated + masked, and gathered (mul_mat_id)
    for (llama_lora_routing_form form : { LLAMA_LORA_ROUTING_FORM_CONCAT, LLAMA_LORA_ROUTING_FORM_GATHER }) {
        g_form = form;
        printf("--- %s form\n", form == LLAMA_LORA_ROUTING_FORM_CONCAT ? "concat" : "gather");

        std::mt19937 rng(42);

        // 1. multi-sequence batches, batch > n_ubatch, reordering (split_equal with per-seq KV), partial outputs
        check_multiseq(true,  true,  rng, "unified KV, all outputs");
        check_multiseq(true,  false, rng, "unified KV, partial outputs");
        check_multiseq(false, true,  rng, "per-seq KV, all outputs");
        check_multiseq(false, false, rng, "per-seq KV, partial outputs");

        // 2. constant routes vs stock adapters; top-2
        {
            llama_context * ref = new_ctx(true);
            llama_context * ctx = new_ctx(true);
            std::vector<llama_token> toks;
            for (int i = 0; i < 40; ++i) toks.push_back(3 + (int) (rng() % (g_n_vocab - 3)));

            auto base = decode_seq(ref, toks);
            char msg[256];

            // the adapters must visibly change the logits, or the checks below prove nothing
            {
                float s = g_scale[1];
                llama_set_adapters_lora(ref, &g_ad[1], 1, &s);
                auto with = decode_seq(ref, toks);
                llama_set_adapters_lora(ref, nullptr, 0, nullptr);
                double d = rel_diff(with.data(), base.data(), with.size());
                snprintf(msg, sizeof(msg), "adapter changes logits (rel %.2e)", d);
                expect(d > 0.05, msg);
            }

            register_checked(ctx, g_ad, g_scale, 3, rparams(2), "three F32 adapters");
            for (int a = 0; a < 3; ++a) {
                std::vector<int32_t> ids(toks.size(), a);
                std::vector<float>   ws (toks.size(), 0.7f);
                llama_set_lora_routes(ctx, ids.data(), ws.data(), (int32_t) toks.size(), 1);
                auto got = decode_seq(ctx, toks);
                float s = 0.7f*g_scale[a];
                auto [d, floor] = versus_stock(got, toks, &g_ad[a], &g_ad_cpu[a], &s, 1);
                g_worst = std::max(g_worst, d);
                snprintf(msg, sizeof(msg), "constant route a%d w=0.7 == stock a%d at 0.7*s (rel %.2e, floor %.2e)", a, a, d, floor);
                expect(d < tolerance(floor), msg);
            }
            {
                const float w1 = 0.8f, w2 = 1.3f;
                std::vector<int32_t> ids; std::vector<float> ws;
                for (size_t i = 0; i < toks.size(); ++i) { ids.push_back(0); ids.push_back(1); ws.push_back(w1); ws.push_back(w2); }
                llama_set_lora_routes(ctx, ids.data(), ws.data(), (int32_t) toks.size(), 2);
                auto got = decode_seq(ctx, toks);
                llama_adapter_lora * both[2] = { g_ad[0], g_ad[1] };
                llama_adapter_lora * both_cpu[2] = { g_ad_cpu[0], g_ad_cpu[1] };
                float s[2] = { w1*g_scale[0], w2*g_scale[1] };
                auto [d, floor] = versus_stock(got, toks, both, both_cpu, s, 2);
                g_worst = std::max(g_worst, d);
                snprintf(msg, sizeof(msg), "top-2 (a0 %.1f, a1 %.1f) == stock a0+a1 at w*s (rel %.2e, floor %.2e)", w1, w2, d, floor);
                expect(d < tolerance(floor), msg);
            }
            {
                // one adapter named twice in a token's routes counts once, with the weights summed (the gather form
                // merges them: ggml-cuda's mul_mat_id needs distinct ids per token)
                std::vector<int32_t> ids; std::vector<float> ws;
                for (size_t i = 0; i < toks.size(); ++i) { ids.push_back(1); ids.push_back(1); ws.push_back(0.4f); ws.push_back(0.3f); }
                llama_set_lora_routes(ctx, ids.data(), ws.data(), (int32_t) toks.size(), 2);
                auto got = decode_seq(ctx, toks);
                float s = 0.7f*g_scale[1];
                auto [d, floor] = versus_stock(got, toks, &g_ad[1], &g_ad_cpu[1], &s, 1);
                g_worst = std::max(g_worst, d);
                snprintf(msg, sizeof(msg), "routes a1 0.4 + a1 0.3 == stock a1 at 0.7*s (rel %.2e, floor %.2e)", d, floor);
                expect(d < tolerance(floor), msg);
            }
            {
                // tokens beyond the given routes use no adapter; n_tokens = 0 clears all routes
                llama_set_lora_routes(ctx, nullptr, nullptr, 0, 1);
                auto got = decode_seq(ctx, toks);
                double d = rel_diff(got.data(), base.data(), got.size());
                snprintf(msg, sizeof(msg), "no routes == base model (rel %.2e)", d);
                expect(d < 1e-5, msg);
            }
            {
                // routes apply to one decode: the next decode, with none set, is the base model's, not a0's again
                std::vector<int32_t> ids(toks.size(), 0);
                std::vector<float>   ws (toks.size(), 1.0f);
                llama_set_lora_routes(ctx, ids.data(), ws.data(), (int32_t) toks.size(), 1);
                auto routed = decode_seq(ctx, toks);
                auto stale  = decode_seq(ctx, toks);
                double d  = rel_diff(stale.data(), base.data(), stale.size());
                double d0 = rel_diff(routed.data(), base.data(), routed.size());
                snprintf(msg, sizeof(msg), "a decode after a routed one, no routes set == base model (rel %.2e; routed %.2e)", d, d0);
                expect(d < 1e-5 && d0 > 1e-3, msg);
            }

            // errors
            {
                int32_t bad = 3; float w = 1.0f;
                expect(llama_set_lora_routes(ctx, &bad, &w, 1, 1) < 0, "invalid id rejected");
                int32_t ok = 0;
                expect(llama_set_lora_routes(ctx, &ok, &w, 1, 3) < 0, "k > max_routes_per_token rejected");
                expect(llama_set_lora_routing(ctx, g_ad, g_scale, 3, rparams(0)) == -1, "max_routes_per_token 0 rejected (-1)");
                auto p = rparams(1);
                p.form = (llama_lora_routing_form) 7;
                expect(llama_set_lora_routing(ctx, g_ad, g_scale, 3, p) == -1, "unknown form rejected (-1)");
                p = rparams(1);
                p.gather_width = -1;
                expect(llama_set_lora_routing(ctx, g_ad, g_scale, 3, p) == -1, "negative gather_width rejected (-1)");
                expect(llama_set_lora_routing(ctx, nullptr, g_scale, 3, rparams(1)) == -1, "NULL adapters rejected (-1)");
                size_t bytes[8];
                expect(llama_lora_routing_bytes(g_model, g_ad, g_scale, 3, rparams(0), bytes, 8) == -1,
                       "llama_lora_routing_bytes: the same error as llama_set_lora_routing");
                // the previous registration stays: a0 still routes
                std::vector<int32_t> ids(toks.size(), 0);
                std::vector<float>   ws (toks.size(), 0.7f);
                llama_set_lora_routes(ctx, ids.data(), ws.data(), (int32_t) toks.size(), 1);
                auto got = decode_seq(ctx, toks);
                float s = 0.7f*g_scale[0];
                auto [d, floor] = versus_stock(got, toks, &g_ad[0], &g_ad_cpu[0], &s, 1);
                snprintf(msg, sizeof(msg), "after rejected registrations the previous one still routes (rel %.2e)", d);
                expect(d < tolerance(floor), msg);
            }

            // 3. routing off -> stock again (stock adapter set applies once more)
            {
                llama_set_lora_routing(ctx, nullptr, nullptr, 0, rparams(1));
                int32_t id = 0; float w = 1.0f;
                expect(llama_set_lora_routes(ctx, &id, &w, 1, 1) < 0, "routes rejected while routing is off");
                auto got = decode_seq(ctx, toks);
                double d = rel_diff(got.data(), base.data(), got.size());
                snprintf(msg, sizeof(msg), "routing off == base model (rel %.2e)", d);
                expect(d < 1e-6, msg);
                float s = g_scale[1];
                llama_set_adapters_lora(ctx, &g_ad[1], 1, &s);
                llama_set_adapters_lora(ref, &g_ad[1], 1, &s);
                got = decode_seq(ctx, toks);
                auto want = decode_seq(ref, toks);
                d = rel_diff(got.data(), want.data(), got.size());
                snprintf(msg, sizeof(msg), "routing off: llama_set_adapters_lora works as stock (rel %.2e)", d);
                expect(d < 1e-6, msg);
            }
            llama_free(ctx);
            llama_free(ref);
        }

        // 4. graph reuse: changing routes between decodes must not re-reserve nor rebuild
        {
            llama_context * ctx = new_ctx(true);
            llama_set_lora_routing(ctx, g_ad, g_scale, 3, rparams(2));
            llama_batch b = llama_batch_init(1, 0, 1);
            auto decode1 = [&](int pos) {
                b.n_tokens = 1; b.token[0] = 100 + pos; b.pos[0] = pos; b.n_seq_id[0] = 1; b.seq_id[0][0] = 0; b.logits[0] = 1;
                return llama_decode(ctx, b);
            };
            int32_t id = 0; float w = 1.0f;
            llama_set_lora_routes(ctx, &id, &w, 1, 1);
            decode1(0);
            decode1(1); // warm: the first decodes build the graph
            const int n_res0 = g_n_reserve;
            const int n_reused0 = llama_perf_context(ctx).n_reused;
            std::vector<float> prev(g_n_vocab);
            int n_changed = 0;
            for (int pos = 2; pos < 34; ++pos) {
                int32_t ids[2] = { (pos % 4) - 1, (pos % 3) - 1 };
                float   ws [2] = { 0.5f + 0.1f*(pos % 5), 1.0f };
                llama_set_lora_routes(ctx, ids, ws, 1, 2);
                decode1(pos);
                const float * l = llama_get_logits_ith(ctx, 0);
                n_changed += memcmp(l, prev.data(), g_n_vocab*sizeof(float)) != 0;
                memcpy(prev.data(), l, g_n_vocab*sizeof(float));
            }
            const int n_reused = llama_perf_context(ctx).n_reused - n_reused0;
            char msg[256];
            snprintf(msg, sizeof(msg), "32 decodes with changing routes: graph reused %d/32, re-reserves %d", n_reused, g_n_reserve - n_res0);
            expect(n_reused == 32 && g_n_reserve == n_res0, msg);
            snprintf(msg, sizeof(msg), "route changes do change the logits (%d/32 decodes differ)", n_changed);
            expect(n_changed == 32, msg);
            // the same for 16-token ubatches with only the last token output (the masks over the output rows)
            {
                llama_batch bb = llama_batch_init(16, 0, 1);
                int pos = 34;
                auto decode16 = [&]() {
                    bb.n_tokens = 16;
                    for (int i = 0; i < 16; ++i) {
                        bb.token[i] = 200 + pos; bb.pos[i] = pos++; bb.n_seq_id[i] = 1; bb.seq_id[i][0] = 0; bb.logits[i] = i == 15;
                    }
                    return llama_decode(ctx, bb);
                };
                decode16(); // builds the 16-token graph
                const int n_res1 = g_n_reserve;
                const int n_reused1 = llama_perf_context(ctx).n_reused;
                for (int it = 0; it < 8; ++it) {
                    std::vector<int32_t> ids(16*2);
                    std::vector<float>   ws (16*2, 0.9f);
                    for (int i = 0; i < 32; ++i) ids[i] = (int32_t) ((i + it) % 4) - 1;
                    llama_set_lora_routes(ctx, ids.data(), ws.data(), 16, 2);
                    decode16();
                }
                snprintf(msg, sizeof(msg), "8 decodes of 16 tokens, changing routes: graph reused %d/8, re-reserves %d",
                        llama_perf_context(ctx).n_reused - n_reused1, g_n_reserve - n_res1);
                expect(llama_perf_context(ctx).n_reused - n_reused1 == 8 && g_n_reserve == n_res1, msg);
                llama_memory_seq_rm(llama_get_memory(ctx), 0, 34, -1);
                llama_batch_free(bb);
            }
            // control: registering again does re-reserve
            llama_set_lora_routing(ctx, g_ad, g_scale, 2, rparams(1));
            decode1(34);
            snprintf(msg, sizeof(msg), "llama_set_lora_routing re-reserves (%d)", g_n_reserve - n_res0);
            expect(g_n_reserve > n_res0, msg);
            llama_batch_free(b);
            llama_free(ctx);
        }

        // 5. work follows the routes (concatenated form): a ubatch whose tokens use no adapter runs no LoRA product,
        // one whose tokens use one adapter runs that adapter's rows only (1/K of the concatenated products)
        if (form == LLAMA_LORA_ROUTING_FORM_CONCAT) {
            std::vector<llama_token> toks;
            for (int i = 0; i < 16; ++i) toks.push_back(3 + (int) (rng() % (g_n_vocab - 3)));
            // the matrix products of each decoded graph: how many, and the elements of their weights
            auto products = [&](llama_context * ctx, const std::vector<int32_t> * ids) {
                g_mm_nodes = 0; g_mm_elements = 0;
                if (ids) {
                    std::vector<float> ws(ids->size(), 1.0f);
                    llama_set_lora_routes(ctx, ids->data(), ws.data(), (int32_t) ids->size(), 1);
                }
                auto logits = decode_seq(ctx, toks);
                return std::make_tuple(g_mm_nodes, g_mm_elements, logits);
            };
            llama_context * ref = new_ctx_counting(true);
            llama_context * ctx = new_ctx_counting(true);
            register_checked(ctx, g_ad, g_scale, 3, rparams(1), "three F32 adapters, counted");
            auto [n_base, e_base, l_base] = products(ref, nullptr);
            std::vector<int32_t> none(toks.size(), -1), one(toks.size(), 1), all(toks.size());
            for (size_t i = 0; i < toks.size(); ++i) all[i] = (int32_t) (i % 3);
            auto [n_none, e_none, l_none] = products(ctx, &none);
            auto [n_one,  e_one,  l_one]  = products(ctx, &one);
            // a fresh context: the one above keeps a graph that covers adapter 1 (a graph grows, see below)
            llama_context * ctx2 = new_ctx_counting(true);
            register_checked(ctx2, g_ad, g_scale, 3, rparams(1), "three F32 adapters, counted");
            auto [n_all,  e_all,  l_all]  = products(ctx2, &all);
            char msg[256];
            snprintf(msg, sizeof(msg), "no token routed: %d products == the base model's %d, logits identical", n_none, n_base);
            expect(n_none == n_base && e_none == e_base && l_none == l_base, msg);
            snprintf(msg, sizeof(msg), "one adapter: LoRA weights %lld elements == 1/3 of three adapters' %lld",
                     e_one - e_base, e_all - e_base);
            expect(n_one == n_all && e_one > e_base && 3*(e_one - e_base) == e_all - e_base, msg);
            {
                // a graph built for a range is reused within it; a ubatch needing more rebuilds it once for both
                const int reused0 = llama_perf_context(ctx).n_reused;
                products(ctx, &none);                   // within {1}: reused
                products(ctx, &one);                    // reused
                std::vector<int32_t> zero(toks.size(), 0);
                products(ctx, &zero);                   // needs {0}: rebuilt for {0, 1}
                auto [n_01, e_01, l_01] = products(ctx, &one); // within {0, 1}: reused, and still a1's answer
                const int reused = llama_perf_context(ctx).n_reused - reused0;
                double d = rel_diff(l_01.data(), l_one.data(), l_one.size());
                snprintf(msg, sizeof(msg), "range {1} reused for none and a1, rebuilt once for a0 (reused %d/4), a1 in {0,1} == a1 alone (rel %.2e)",
                         reused, d);
                expect(reused == 3 && 3*(e_01 - e_base) == 2*(e_all - e_base) && d < tolerance(0), msg);
            }
            llama_free(ctx2);
            llama_free(ctx);
            llama_free(ref);
        }

    } // modes

    // 5. F16 adapters are packed into F16 copies (concatenated form) and still equal stock
    {
        g_form = LLAMA_LORA_ROUTING_FORM_AUTO; // two adapters of a small rank: concatenated
        auto load_h = [&](llama_model * model, llama_adapter_lora ** h) {
            for (int i = 0; i < 2; ++i) {
                h[i] = model ? llama_adapter_lora_init(model, (dir + "/h" + std::to_string(i) + ".gguf").c_str()) : nullptr;
            }
        };
        llama_adapter_lora * h[2], * h_cpu[2] = { nullptr, nullptr };
        load_h(g_model, h);
        load_h(g_model_cpu, h_cpu);
        if (!h[0] || !h[1] || (g_model_cpu && (!h_cpu[0] || !h_cpu[1]))) { fprintf(stderr, "F16 adapter load failed\n"); return 1; }
        // the F32 twins (same values, unrounded) on the exact model: how far F16 storage itself moves stock's logits
        llama_model * exact_model = g_model_cpu ? g_model_cpu : g_model;
        llama_adapter_lora ** h_exact = g_model_cpu ? h_cpu : h;
        llama_adapter_lora * twin[2];
        for (int i = 0; i < 2; ++i) {
            twin[i] = llama_adapter_lora_init(exact_model, (dir + "/h" + std::to_string(i) + "-f32.gguf").c_str());
            if (!twin[i]) { fprintf(stderr, "F32 twin load failed\n"); return 1; }
        }
        const float sc[2] = { 1.0f, 0.5f };
        llama_context * ctx = new_ctx(true);
        expect(register_checked(ctx, h, sc, 2, rparams(1), "two F16 adapters, concat") == 0, "register two F16 adapters");
        char msg[256];
        snprintf(msg, sizeof(msg), "F16 adapters packed as F16 copies (%d F16, %d F32)", g_packed_f16, g_packed_f32);
        expect(g_packed_f16 == 7*2 && g_packed_f32 == 0, msg);
        std::mt19937 rng(7);
        std::vector<llama_token> toks;
        for (int i = 0; i < 40; ++i) toks.push_back(3 + (int) (rng() % (g_n_vocab - 3)));
        for (int a = 0; a < 2; ++a) {
            std::vector<int32_t> ids(toks.size(), a);
            std::vector<float>   ws (toks.size(), 1.0f);
            llama_set_lora_routes(ctx, ids.data(), ws.data(), (int32_t) toks.size(), 1);
            auto got = decode_seq(ctx, toks);
            auto [d, floor] = versus_stock(got, toks, &h[a], &h_cpu[a], &sc[a], 1);
            // F16 copies sum in another order than stock and round to F16 where stock does: a last-bit difference
            // can cross an F16 rounding boundary, so allow twice what F16 storage itself does to stock's logits
            auto f16 = stock_seq(exact_model, &h_exact[a], &sc[a], 1, toks);
            auto f32 = stock_seq(exact_model, &twin[a], &sc[a], 1, toks);
            const double f16_floor = rel_diff(f16.data(), f32.data(), f16.size());
            g_worst = std::max(g_worst, d);
            snprintf(msg, sizeof(msg), "constant route h%d (F16 copies) == stock h%d (rel %.2e, floor %.2e, F16 vs F32 %.2e)",
                     a, a, d, floor, f16_floor);
            expect(d < std::max(tolerance(floor), 2*f16_floor), msg);
        }
        {
            // the gathered form of the same F16 adapters: F32 copies
            g_form = LLAMA_LORA_ROUTING_FORM_GATHER;
            register_checked(ctx, h, sc, 2, rparams(1), "two F16 adapters, gather");
            snprintf(msg, sizeof(msg), "gathered copies of F16 adapters are F32 (%d F16, %d F32)", g_packed_f16, g_packed_f32);
            expect(g_packed_f16 == 0 && g_packed_f32 == 7*2, msg);
            g_form = LLAMA_LORA_ROUTING_FORM_AUTO;
        }
        {
            // asked on a metadata-only load (what a memory check before loading does), the same figures
            auto mp = llama_model_default_params();
            mp.n_gpu_layers = ngl;
            mp.no_alloc = true;
            mp.load_mode = LLAMA_LOAD_MODE_NONE;
            llama_model * meta = llama_model_load_from_file((dir + "/tiny.gguf").c_str(), mp);
            llama_adapter_lora * mh[2] = { nullptr, nullptr };
            load_h(meta, mh);
            for (llama_lora_routing_form f : { LLAMA_LORA_ROUTING_FORM_CONCAT, LLAMA_LORA_ROUTING_FORM_GATHER }) {
                g_form = f;
                const long long on_meta = meta && mh[0] && mh[1] ? routing_bytes(meta, mh, sc, 2, rparams(1)) : -1;
                const long long on_full = routing_bytes(g_model, h, sc, 2, rparams(1));
                snprintf(msg, sizeof(msg), "%s: llama_lora_routing_bytes on a no_alloc load %lld == on the loaded model %lld",
                        f == LLAMA_LORA_ROUTING_FORM_CONCAT ? "concat" : "gather", on_meta, on_full);
                expect(on_meta > 0 && on_meta == on_full, msg);
            }
            g_form = LLAMA_LORA_ROUTING_FORM_AUTO;
            for (auto * a : mh) if (a) llama_adapter_lora_free(a);
            if (meta) llama_model_free(meta);
        }
        llama_free(ctx);
        for (auto * a : twin) llama_adapter_lora_free(a);
        for (auto * a : h) llama_adapter_lora_free(a);
        for (auto * a : h_cpu) if (a) llama_adapter_lora_free(a);
    }

    // 6. an adapter on MoE expert tensors is refused (routing covers dense weights only)
    {
        auto mp = llama_model_default_params();
        llama_model * moe = llama_model_load_from_file((dir + "/tiny-moe.gguf").c_str(), mp);
        llama_adapter_lora * ad = moe ? llama_adapter_lora_init(moe, (dir + "/a-moe.gguf").c_str()) : nullptr;
        if (!ad) { fprintf(stderr, "moe model/adapter load failed\n"); return 1; }
        auto cp = llama_context_default_params();
        cp.n_ctx = 64; cp.n_batch = cp.n_ubatch = 16;
        llama_context * ctx = llama_init_from_model(moe, cp);
        float s = 1.0f;
        expect(llama_set_lora_routing(ctx, &ad, &s, 1, rparams(1)) == -2, "adapter on MoE expert tensors rejected (-2)");
        size_t bytes[8];
        expect(llama_lora_routing_bytes(moe, &ad, &s, 1, rparams(1), bytes, 8) == -2,
               "llama_lora_routing_bytes refuses it too (-2)");
        int32_t id = 0; float w = 1.0f;
        expect(llama_set_lora_routes(ctx, &id, &w, 1, 1) < 0, "routing stays off after a rejected registration");
        llama_free(ctx);
        llama_adapter_lora_free(ad);
        llama_model_free(moe);
    }

    printf("worst routed-vs-stock rel diff: %.3e\n", g_worst);
    printf("%s (%d failures)\n", g_fail ? "FAILED" : "ALL OK", g_fail);

    for (auto * a : g_ad) llama_adapter_lora_free(a);
    llama_model_free(g_model);
    if (g_model_cpu) {
        for (auto * a : g_ad_cpu) llama_adapter_lora_free(a);
        llama_model_free(g_model_cpu);
    }
    llama_backend_free();
    return g_fail ? 1 : 0;
}
