/* The webhook worker: the loop appends posts to `incoming` under `mu` and
 * wakes the curl multi handle; the thread adds them to the multi handle,
 * drives it, and moves finished posts to `done` under `mu`, then wakes the
 * loop through `async`, whose callback runs the callbacks in order. */
#include "async/webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

struct post {
    struct post *next;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;
    size_t len;
    uint64_t timeout_ms;
    webhook_fn cb;
    void *ud;
    long status;
    char error[CURL_ERROR_SIZE];
};

struct webhook {
    uv_loop_t *loop;
    uv_async_t async;
    pthread_t thread;
    bool thread_started;
    CURLM *multi;
    pthread_mutex_t mu;
    /* Under mu. */
    struct post *incoming, **incoming_tail;
    struct post *finished, **finished_tail;
    bool stop;
    /* Worker only. */
    struct post *active;
    /* Loop only. */
    bool closing;
};

static void post_free(struct post *p)
{
    if (p->easy)
        curl_easy_cleanup(p->easy);
    curl_slist_free_all(p->headers);
    free(p->url);
    free(p->body);
    free(p);
}

/* The answer's body is not needed: only its status. */
static size_t discard(char *ptr, size_t size, size_t n, void *ud)
{
    return size * n;
}

static void start_post(struct webhook *w, struct post *p)
{
    p->easy = curl_easy_init();
    if (!p->easy) {
        snprintf(p->error, sizeof(p->error), "out of memory");
        goto fail;
    }
    curl_easy_setopt(p->easy, CURLOPT_URL, p->url);
    curl_easy_setopt(p->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(p->easy, CURLOPT_POSTFIELDS, p->body);
    curl_easy_setopt(p->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
    curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(p->timeout_ms < 10000 ? p->timeout_ms : 10000));
    curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(p->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(p->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(p->easy, CURLOPT_ERRORBUFFER, p->error);
    curl_easy_setopt(p->easy, CURLOPT_PRIVATE, p);
    curl_easy_setopt(p->easy, CURLOPT_USERAGENT, "frost-webhook/1");
    if (curl_multi_add_handle(w->multi, p->easy) != CURLM_OK) {
        snprintf(p->error, sizeof(p->error), "cannot start the request");
        goto fail;
    }
    p->next = w->active;
    w->active = p;
    return;
fail:
    pthread_mutex_lock(&w->mu);
    p->next = NULL;
    *w->finished_tail = p;
    w->finished_tail = &p->next;
    pthread_mutex_unlock(&w->mu);
    uv_async_send(&w->async);
}

static void unlink_active(struct webhook *w, struct post *p)
{
    for (struct post **pp = &w->active; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

static void *worker(void *arg)
{
    struct webhook *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        bool stop = w->stop;
        struct post *in = w->incoming;
        w->incoming = NULL;
        w->incoming_tail = &w->incoming;
        pthread_mutex_unlock(&w->mu);
        if (stop) {
            while (in) {
                struct post *n = in->next;
                post_free(in);
                in = n;
            }
            break;
        }
        while (in) {
            struct post *n = in->next;
            start_post(w, in);
            in = n;
        }
        int running = 0;
        curl_multi_perform(w->multi, &running);
        CURLMsg *m;
        int left;
        bool any = false;
        while ((m = curl_multi_info_read(w->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct post *p = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
            CURLcode rc = m->data.result;
            curl_multi_remove_handle(w->multi, m->easy_handle);
            unlink_active(w, p);
            if (rc == CURLE_OK) {
                curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &p->status);
            } else {
                p->status = 0;
                if (!p->error[0])
                    snprintf(p->error, sizeof(p->error), "%s", curl_easy_strerror(rc));
            }
            curl_easy_cleanup(p->easy);
            p->easy = NULL;
            pthread_mutex_lock(&w->mu);
            p->next = NULL;
            *w->finished_tail = p;
            w->finished_tail = &p->next;
            pthread_mutex_unlock(&w->mu);
            any = true;
        }
        if (any)
            uv_async_send(&w->async);
        curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
    }
    while (w->active) {
        struct post *p = w->active;
        w->active = p->next;
        curl_multi_remove_handle(w->multi, p->easy);
        post_free(p);
    }
    return NULL;
}

static void on_async(uv_async_t *h)
{
    struct webhook *w = container_of(h, struct webhook, async);
    pthread_mutex_lock(&w->mu);
    struct post *p = w->finished;
    w->finished = NULL;
    w->finished_tail = &w->finished;
    pthread_mutex_unlock(&w->mu);
    while (p) {
        struct post *n = p->next;
        if (!w->closing)
            p->cb(p->ud, p->status, p->error);
        post_free(p);
        p = n;
    }
}

int webhook_new(uv_loop_t *loop, struct webhook **out, struct frost_err *err)
{
    /* Idempotent and, at start-up, still single-threaded. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return frost_err_set(err, 500, "InternalError", "webhooks: cannot initialise libcurl");
    struct webhook *w = calloc(1, sizeof(*w));
    if (!w)
        return frost_err_set(err, 500, "InternalError", "out of memory");
    w->loop = loop;
    w->incoming_tail = &w->incoming;
    w->finished_tail = &w->finished;
    w->multi = curl_multi_init();
    if (!w->multi || pthread_mutex_init(&w->mu, NULL) != 0) {
        if (w->multi)
            curl_multi_cleanup(w->multi);
        free(w);
        return frost_err_set(err, 500, "InternalError", "webhooks: cannot create the worker");
    }
    if (uv_async_init(loop, &w->async, on_async) != 0) {
        curl_multi_cleanup(w->multi);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return frost_err_set(err, 500, "InternalError", "webhooks: cannot create the loop handle");
    }
    uv_unref((uv_handle_t *)&w->async);
    int e = pthread_create(&w->thread, NULL, worker, w);
    if (e != 0) {
        webhook_free(w);
        return frost_err_set(err, 500, "InternalError", "webhooks: cannot start the thread: %s",
                             strerror(e));
    }
    w->thread_started = true;
    *out = w;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    struct webhook *w = container_of((uv_async_t *)h, struct webhook, async);
    struct post *p = w->finished;
    while (p) {
        struct post *n = p->next;
        post_free(p);
        p = n;
    }
    curl_multi_cleanup(w->multi);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void webhook_free(struct webhook *w)
{
    if (!w)
        return;
    w->closing = true;
    if (w->thread_started) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_mutex_unlock(&w->mu);
        curl_multi_wakeup(w->multi);
        pthread_join(w->thread, NULL);
    }
    uv_close((uv_handle_t *)&w->async, on_closed);
}

int webhook_post(struct webhook *w, const char *url, const char *body, size_t len,
                 const char *const *headers, size_t n_headers, uint64_t timeout_ms, webhook_fn done,
                 void *ud)
{
    if (w->closing)
        return -1;
    struct post *p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    p->url = strdup(url);
    p->body = malloc(len + 1);
    if (!p->url || !p->body)
        goto fail;
    memcpy(p->body, body, len);
    p->body[len] = 0;
    p->len = len;
    p->timeout_ms = timeout_ms ? timeout_ms : 10000;
    p->cb = done;
    p->ud = ud;
    /* No "Expect: 100-continue" round trip for larger bodies. */
    static const char *const fixed[] = {"Content-Type: application/json", "Expect:"};
    for (size_t i = 0; i < ARRAY_LEN(fixed) + n_headers; i++) {
        const char *line = i < ARRAY_LEN(fixed) ? fixed[i] : headers[i - ARRAY_LEN(fixed)];
        struct curl_slist *h = curl_slist_append(p->headers, line);
        if (!h)
            goto fail;
        p->headers = h;
    }
    pthread_mutex_lock(&w->mu);
    *w->incoming_tail = p;
    w->incoming_tail = &p->next;
    pthread_mutex_unlock(&w->mu);
    curl_multi_wakeup(w->multi);
    return 0;
fail:
    post_free(p);
    return -1;
}
