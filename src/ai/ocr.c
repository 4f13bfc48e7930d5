/*
 * ocr.c - the text of a scanned form page: leptonica decodes, Tesseract reads
 * (ocr.h; DESIGN.md section 5).
 *
 * The input is hostile: its size in bytes is checked first, then its width
 * and height from the format's header (pixReadHeaderMem reads only headers
 * for every format accepted here; it decodes BMP whole, which is
 * uncompressed and so bounded by the byte limit, and GIF whole, which is why
 * GIF is refused). Only then is it decoded, and the decoded size is checked
 * again in case a decoder disagrees with its header.
 *
 * Engines: a pool of initialised TessBaseAPIs behind one mutex, held only to
 * take or give back an engine, never while one starts or reads. An engine
 * remembers the tessdata directory and language it was started with and is
 * only reused for the same. One that failed or timed out is ended rather than
 * given back, in case Tesseract left it half way.
 *
 * The time limit is Tesseract's ETEXT_DESC monitor: a deadline plus a cancel
 * callback that watches the same deadline, so a timeout is told apart from
 * other failures. Tesseract consults it between words during recognition;
 * page layout analysis before that is not interruptible.
 *
 * Chatter: Tesseract's tprintf goes to its global "debug_file" variable, set
 * to /dev/null once; leptonica's messages are switched off once. libpng's
 * own error handler still prints a line for a corrupt PNG.
 *
 * Threads: Debian's Tesseract is built with OpenMP and runs parts of its LSTM
 * on 4 threads per page. Here that made a page ~10x slower (290 ms against
 * 25 ms, 2 cores) and would multiply with calls in parallel, so OpenMP's
 * max-active-levels is set to 0 once (each parallel region runs on its
 * caller's thread), the same as OMP_THREAD_LIMIT=1, unless the environment
 * sets OMP_THREAD_LIMIT or OMP_MAX_ACTIVE_LEVELS itself. Tesseract is the only
 * OpenMP user in formd (llama.cpp is built with GGML_OPENMP=OFF). The call is
 * looked up with dlsym since libgomp comes in through libtesseract.
 */
#include "ai/ocr.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <leptonica/allheaders.h>
#include <tesseract/capi.h>

#include "core/clock.h"
#include "core/mem.h"
#include "core/banned.h"

struct engine {
    TessBaseAPI *api;
    char *tessdata;                     /* as started, fmd_malloc'd */
    char *lang;
    struct engine *next;                /* in the idle list */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct engine *pool_idle;        /* guarded by pool_lock */
static int pool_n;
static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

struct deadline {
    uint64_t end_ns;
    bool hit;
};

static void quiet(void)
{
    void (*set_levels)(int);
    TessBaseAPI *api;

    if (!getenv("OMP_THREAD_LIMIT") && !getenv("OMP_MAX_ACTIVE_LEVELS")) {
        *(void **)&set_levels = dlsym(RTLD_DEFAULT, "omp_set_max_active_levels");
        if (set_levels)
            set_levels(0);
    }
    setMsgSeverity(L_SEVERITY_NONE);
    /* debug_file is global: setting it through any handle sets it for all. */
    api = TessBaseAPICreate();
    if (api) {
        TessBaseAPISetVariable(api, "debug_file", "/dev/null");
        TessBaseAPIDelete(api);
    }
}

static void engine_free(struct engine *e)
{
    if (!e)
        return;
    if (e->api) {
        TessBaseAPIEnd(e->api);
        TessBaseAPIDelete(e->api);
    }
    fmd_free(e->tessdata);
    fmd_free(e->lang);
    fmd_free(e);
}

static int engine_new(const char *tessdata, const char *lang, struct engine **out,
                      struct fmd_err *err)
{
    struct engine *e;
    int rc = 0;

    *out = NULL;
    e = fmd_calloc(1, sizeof(*e));
    if (!e || !(e->tessdata = fmd_strdup(tessdata)) || !(e->lang = fmd_strdup(lang))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory starting ocr");
        goto out;
    }
    e->api = TessBaseAPICreate();
    if (!e->api) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory starting ocr");
        goto out;
    }
    if (TessBaseAPIInit3(e->api, tessdata, lang) != 0) {
        rc = fmd_errf(err, FMD_EUNAVAIL, "cannot load the ocr model '%s' from '%s'",
                      lang, tessdata);
        goto out;
    }
    *out = e;
    e = NULL;
out:
    engine_free(e);
    return rc;
}

/* An idle engine started for tessdata and lang, or a new one. */
static int engine_take(const char *tessdata, const char *lang, struct engine **out,
                       struct fmd_err *err)
{
    struct engine **pp, *e = NULL;

    pthread_mutex_lock(&pool_lock);
    for (pp = &pool_idle; *pp; pp = &(*pp)->next) {
        if (!strcmp((*pp)->tessdata, tessdata) && !strcmp((*pp)->lang, lang)) {
            e = *pp;
            *pp = e->next;
            e->next = NULL;
            pool_n--;
            break;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    if (e) {
        *out = e;
        return 0;
    }
    return engine_new(tessdata, lang, out, err);
}

static void engine_give(struct engine *e)
{
    TessBaseAPIClear(e->api);           /* the page's image and results */
    pthread_mutex_lock(&pool_lock);
    if (pool_n < AI_OCR_POOL_IDLE) {
        e->next = pool_idle;
        pool_idle = e;
        pool_n++;
        e = NULL;
    }
    pthread_mutex_unlock(&pool_lock);
    engine_free(e);
}

void ai_ocr_shutdown(void)
{
    struct engine *e;

    pthread_mutex_lock(&pool_lock);
    e = pool_idle;
    pool_idle = NULL;
    pool_n = 0;
    pthread_mutex_unlock(&pool_lock);
    while (e) {
        struct engine *next = e->next;
        engine_free(e);
        e = next;
    }
}

static bool cancel_cb(void *arg, int words)
{
    struct deadline *d = arg;

    if (clock_mono_ns() >= d->end_ns)
        d->hit = true;
    return d->hit;
}

static bool format_ok(int format)
{
    switch (format) {
    case IFF_BMP: case IFF_JFIF_JPEG: case IFF_PNG: case IFF_PNM: case IFF_JP2: case IFF_WEBP:
    case IFF_TIFF: case IFF_TIFF_PACKBITS: case IFF_TIFF_RLE: case IFF_TIFF_G3:
    case IFF_TIFF_G4: case IFF_TIFF_LZW: case IFF_TIFF_ZIP: case IFF_TIFF_JPEG:
        return true;
    default:
        return false;
    }
}

/* The format and size from the image's header, nothing decoded: 0 or an error. */
static int read_header(const unsigned char *image, size_t len, unsigned long long max_pixels,
                       struct ai_ocr_stats *st, struct fmd_err *err)
{
    l_int32 format = IFF_UNKNOWN, w = 0, h = 0;

    if (len >= 12)
        findFileFormatBuffer(image, &format);
    if (format == IFF_GIF || format == IFF_SPIX)
        return fmd_errf(err, FMD_EMEDIA, "'%s' images are not accepted for ocr",
                        format == IFF_GIF ? "gif" : "spix");
    if (!format_ok(format) || pixReadHeaderMem(image, len, &format, &w, &h, NULL, NULL, NULL)
        || w <= 0 || h <= 0)
        return fmd_errf(err, FMD_EINVAL, "not an image formd can read");
    st->width = w;
    st->height = h;
    if ((unsigned long long)w * (unsigned long long)h > max_pixels)
        return fmd_errf(err, FMD_ETOOBIG, "image of %dx%d pixels is over the limit of %llu",
                        w, h, max_pixels);
    return 0;
}

int ai_ocr_check(const unsigned char *image, size_t len, struct fmd_err *err)
{
    struct ai_ocr_stats st;

    pthread_once(&quiet_once, quiet);
    if (len > AI_OCR_MAX_BYTES)
        return fmd_errf(err, FMD_ETOOBIG, "image of %zu bytes is over the limit of %u", len,
                        AI_OCR_MAX_BYTES);
    return read_header(image, len, AI_OCR_MAX_PIXELS, &st, err);
}

/* Decodes image into *pix, size limits first; RGBA is laid on white. */
static int decode(const unsigned char *image, size_t len, unsigned long long max_pixels,
                  PIX **pix, struct ai_ocr_stats *st, struct fmd_err *err)
{
    l_int32 w, h;
    PIX *p = NULL, *blended;
    int rc;

    *pix = NULL;
    if ((rc = read_header(image, len, max_pixels, st, err)))
        goto out;
    p = pixReadMem(image, len);
    if (!p) {
        rc = fmd_errf(err, FMD_EINVAL, "not an image formd can read");
        goto out;
    }
    w = pixGetWidth(p);
    h = pixGetHeight(p);
    st->width = w;
    st->height = h;
    if (w <= 0 || h <= 0 || (unsigned long long)w * (unsigned long long)h > max_pixels) {
        rc = fmd_errf(err, FMD_ETOOBIG, "image of %dx%d pixels is over the limit of %llu",
                      w, h, max_pixels);
        goto out;
    }
    if (pixGetSpp(p) == 4) {
        /* Transparent pixels keep whatever colour they had, often black. */
        blended = pixAlphaBlendUniform(p, 0xffffff00);
        if (!blended) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory decoding the image");
            goto out;
        }
        pixDestroy(&p);
        p = blended;
    }
    *pix = p;
    p = NULL;
out:
    pixDestroy(&p);
    return rc;
}

int ai_ocr_text(const unsigned char *image, size_t len, const struct ai_ocr_options *o,
                char **text, struct ai_ocr_stats *st, struct fmd_err *err)
{
    static const struct ai_ocr_options defaults;
    struct ai_ocr_stats st_local;
    size_t max_bytes;
    unsigned long long max_pixels;
    long timeout_ms;
    const char *tessdata, *lang;
    uint64_t t0 = clock_mono_ns();
    struct deadline dl = { 0 };
    struct engine *e = NULL;
    ETEXT_DESC *monitor = NULL;
    PIX *pix = NULL;
    char *out_text = NULL;
    size_t n;
    bool reusable = false;
    int rc = 0;

    *text = NULL;
    if (!o)
        o = &defaults;
    if (!st)
        st = &st_local;
    memset(st, 0, sizeof(*st));
    max_bytes = o->max_bytes ? o->max_bytes : AI_OCR_MAX_BYTES;
    max_pixels = o->max_pixels ? o->max_pixels : AI_OCR_MAX_PIXELS;
    timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : AI_OCR_TIMEOUT_MS;
    if (timeout_ms > 86400000L)
        timeout_ms = 86400000L;         /* a day: keeps the ns and int sums in range */
    tessdata = o->tessdata && *o->tessdata ? o->tessdata : AI_OCR_TESSDATA;
    lang = o->lang && *o->lang ? o->lang : "eng";
    pthread_once(&quiet_once, quiet);

    if (len > max_bytes) {
        rc = fmd_errf(err, FMD_ETOOBIG, "image of %zu bytes is over the limit of %zu",
                      len, max_bytes);
        goto out;
    }
    if (!image || len == 0) {
        rc = fmd_errf(err, FMD_EINVAL, "not an image formd can read");
        goto out;
    }
    rc = decode(image, len, max_pixels, &pix, st, err);
    if (rc)
        goto out;

    rc = engine_take(tessdata, lang, &e, err);
    if (rc)
        goto out;
    monitor = TessMonitorCreate();
    if (!monitor) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory starting ocr");
        goto out;
    }
    dl.end_ns = t0 + (uint64_t)timeout_ms * 1000000u;
    TessMonitorSetCancelFunc(monitor, cancel_cb);
    TessMonitorSetCancelThis(monitor, &dl);
    TessMonitorSetDeadlineMSecs(monitor, (int)timeout_ms);

    TessBaseAPISetImage2(e->api, pix);
    /* Past the deadline, Tesseract may stop early yet answer success. */
    if (TessBaseAPIRecognize(e->api, monitor) != 0 || dl.hit || clock_mono_ns() >= dl.end_ns) {
        if (dl.hit || clock_mono_ns() >= dl.end_ns)
            rc = fmd_errf(err, FMD_ETIMEOUT, "ocr took longer than %ld ms", timeout_ms);
        else
            rc = fmd_errf(err, FMD_EINTERNAL, "ocr failed to read the image");
        goto out;
    }
    {
        char *t = TessBaseAPIGetUTF8Text(e->api);

        if (!t) {
            rc = fmd_errf(err, FMD_EINTERNAL, "ocr failed to read the image");
            goto out;
        }
        n = strlen(t);
        while (n > 0 && strchr(" \t\r\n\f\v", t[n - 1]))
            n--;
        out_text = fmd_strndup(t, n);
        TessDeleteText(t);
        if (!out_text) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory reading the ocr text");
            goto out;
        }
    }
    st->confidence = TessBaseAPIMeanTextConf(e->api);
    if (st->confidence < 0)
        st->confidence = 0;
    reusable = true;
    *text = out_text;
    out_text = NULL;
out:
    if (e) {
        if (reusable)
            engine_give(e);
        else
            engine_free(e);
    }
    if (monitor)
        TessMonitorDelete(monitor);
    pixDestroy(&pix);
    fmd_free(out_text);
    st->ms = (long)((clock_mono_ns() - t0) / 1000000u);
    return rc;
}
