// molora's native reference loop: the same decode loops as `molora bench` (generation with greedy sampling after a
// short prompt; prefill of one long prompt), written directly against llama.h. `molora bench --native` runs it on the
// same model files so that the Java loop's overhead is measured as a ratio in one run.
//
//   decode_loop -m MODEL [--lora FILE] [--prompt 16] [--gen 256] [--prefill 512] [--repeat 3] [--prefill-repeat 10]
//               [-t THREADS] [-ngl N]
//
// Prints one line per scenario: "gen <tok/s>" and "prefill <tok/s>" (best of --repeat / --prefill-repeat runs).
#include "llama.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

static double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// the same token stream as BenchCommand.randomTokens: java.util.Random is not reproduced here, so both sides use
// random tokens; their speed does not depend on which tokens they are
static std::vector<llama_token> random_tokens(int n, int n_vocab, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> dist(3, n_vocab - 1);
    std::vector<llama_token> t(n);
    for (auto & x : t) x = dist(rng);
    return t;
}

int main(int argc, char ** argv) {
    std::string model_path, lora_path;
    int n_prompt = 16, n_gen = 256, n_prefill = 512, repeat = 3, prefill_repeat = 10, threads = 0, ngl = 0;
    for (int i = 1; i < argc; i++) {
        auto next = [&](const char * flag) -> const char * {
            if (i + 1 >= argc) { fprintf(stderr, "%s needs a value\n", flag); exit(2); }
            return argv[++i];
        };
        if (!strcmp(argv[i], "-m")) model_path = next("-m");
        else if (!strcmp(argv[i], "--lora")) lora_path = next("--lora");
        else if (!strcmp(argv[i], "--prompt")) n_prompt = atoi(next("--prompt"));
        else if (!strcmp(argv[i], "--gen")) n_gen = atoi(next("--gen"));
        else if (!strcmp(argv[i], "--prefill")) n_prefill = atoi(next("--prefill"));
        else if (!strcmp(argv[i], "--repeat")) repeat = atoi(next("--repeat"));
        else if (!strcmp(argv[i], "--prefill-repeat")) prefill_repeat = atoi(next("--prefill-repeat"));
        else if (!strcmp(argv[i], "-t")) threads = atoi(next("-t"));
        else if (!strcmp(argv[i], "-ngl")) ngl = atoi(next("-ngl"));
        else { fprintf(stderr, "unknown argument %s\n", argv[i]); return 2; }
    }
    if (model_path.empty() || n_prompt < 1 || n_gen < 1 || n_prefill < 1 || repeat < 1 || prefill_repeat < 1) {
        fprintf(stderr, "usage: decode_loop -m MODEL [--lora FILE] [--prompt N] [--gen N] [--prefill N] [--repeat N]\n");
        return 2;
    }
    if (threads <= 0) threads = (int) std::thread::hardware_concurrency();

    llama_log_set([](ggml_log_level level, const char * text, void *) {
        if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
    }, nullptr);
    ggml_backend_load_all();  // backend modules beside this program (bin/) in a GGML_BACKEND_DL build; else a no-op
    llama_backend_init();

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = ngl;
    llama_model * model = llama_model_load_from_file(model_path.c_str(), mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", model_path.c_str()); return 1; }
    llama_adapter_lora * lora = nullptr;
    if (!lora_path.empty()) {
        lora = llama_adapter_lora_init(model, lora_path.c_str());
        if (!lora) { fprintf(stderr, "cannot load adapter %s\n", lora_path.c_str()); return 1; }
    }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));

    auto make_ctx = [&](int n_ctx, int n_batch) {
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = n_ctx;
        cp.n_batch = n_batch;
        cp.n_ubatch = n_batch < 512 ? n_batch : 512;
        cp.n_threads = threads;
        cp.n_threads_batch = threads;
        llama_context * ctx = llama_init_from_model(model, cp);
        if (lora) {
            float scale = 1.0f;
            llama_set_adapters_lora(ctx, &lora, 1, &scale);
        }
        return ctx;
    };

    // generation: prompt, then n_gen single-token decodes with greedy sampling (as BenchCommand.generate)
    double best_gen = 0;
    for (int r = 0; r < repeat; r++) {
        llama_context * ctx = make_ctx(n_prompt + n_gen + 8, n_prompt > 512 ? n_prompt : 512);
        llama_sampler * greedy = llama_sampler_init_greedy();
        llama_batch batch = llama_batch_init(n_prompt, 0, 1);
        std::vector<llama_token> prompt = random_tokens(n_prompt, n_vocab, 1);
        for (int i = 0; i < n_prompt; i++) {
            batch.token[i] = prompt[i]; batch.pos[i] = i; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = 0;
            batch.logits[i] = i == n_prompt - 1;
        }
        batch.n_tokens = n_prompt;
        if (llama_decode(ctx, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
        const double t0 = now_s();
        int pos = n_prompt;
        for (int i = 0; i < n_gen; i++) {
            llama_token t = llama_sampler_sample(greedy, ctx, -1);
            batch.token[0] = t; batch.pos[0] = pos++; batch.n_seq_id[0] = 1; batch.seq_id[0][0] = 0; batch.logits[0] = 1;
            batch.n_tokens = 1;
            if (llama_decode(ctx, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
        }
        const double tps = n_gen / (now_s() - t0);
        if (tps > best_gen) best_gen = tps;
        llama_batch_free(batch);
        llama_sampler_free(greedy);
        llama_free(ctx);
    }

    // prefill: one prompt of n_prefill tokens, logits for the last (as BenchCommand.prefillOnce)
    double best_prefill = 0;
    for (int r = 0; r < prefill_repeat; r++) {
        llama_context * ctx = make_ctx(n_prefill + 8, n_prefill);
        llama_batch batch = llama_batch_init(n_prefill, 0, 1);
        std::vector<llama_token> tokens = random_tokens(n_prefill, n_vocab, 2);
        for (int i = 0; i < n_prefill; i++) {
            batch.token[i] = tokens[i]; batch.pos[i] = i; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = 0;
            batch.logits[i] = i == n_prefill - 1;
        }
        batch.n_tokens = n_prefill;
        // warm-up: the same prompt once, untimed, then cleared (as BenchCommand.prefillOnce)
        if (llama_decode(ctx, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
        llama_get_logits_ith(ctx, -1);
        llama_memory_clear(llama_get_memory(ctx), true);
        const double t0 = now_s();
        if (llama_decode(ctx, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
        llama_get_logits_ith(ctx, -1);
        llama_synchronize(ctx);
        const double tps = n_prefill / (now_s() - t0);
        if (tps > best_prefill) best_prefill = tps;
        llama_batch_free(batch);
        llama_free(ctx);
    }

    printf("gen %.3f\nprefill %.3f\n", best_gen, best_prefill);
    if (lora) llama_adapter_lora_free(lora);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
