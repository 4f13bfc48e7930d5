/*
 * test_ocr.c - OCR of a scanned form page (src/ai/ocr.c).
 *
 * The images are drawn at test time by ocr_image.py (PIL, DejaVu Sans, black
 * on white) into this run's directory: a three-line form in every format the
 * module accepts. The text must come back with each line, compared
 * case-insensitively without spaces. Then the hostile cases: garbage, a
 * truncated PNG, GIF, a PNM header claiming 10^10 pixels (refused before
 * decoding), too many bytes, a time limit that runs out, a missing model, a
 * 1-pixel blank page, two threads at once, and failed allocations.
 *
 * ocr_image.py is found next to this file: FORMD_SRC_DIR, else the checkout
 * above the test binary (build/unit/ai or build/asan/unit/ai), else the
 * current directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ai/ocr.h"
#include "core/mem.h"

static char tmp[256];                /* this run's directory */
static char script[PATH_MAX];        /* ocr_image.py */

/* ---- fixture ---- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int find_script(void)
{
    static const char *tails[] = { "/build/unit/ai/test_ocr", "/build/asan/unit/ai/test_ocr" };
    const char *rel = "tests/unit/ai/ocr_image.py";
    const char *env = getenv("FORMD_SRC_DIR");
    char exe[PATH_MAX];
    ssize_t n;
    size_t i;

    if (env) {
        snprintf(script, sizeof(script), "%s/%s", env, rel);
        return access(script, R_OK);
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (i = 0; i < 2; i++) {
            size_t tl = strlen(tails[i]);
            if ((size_t)n > tl && !strcmp(exe + n - tl, tails[i])) {
                snprintf(script, sizeof(script), "%.*s/%s", (int)(n - tl), exe, rel);
                return access(script, R_OK);
            }
        }
    }
    snprintf(script, sizeof(script), "%s", rel);
    return access(script, R_OK);
}

/* Draws the form into tmp/name (format from the suffix); 0 on success. */
static int draw(const char *name)
{
    char cmd[PATH_MAX * 3];

    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' '%s/%s'", script, tmp, name);
    return system(cmd);
}

static unsigned char *slurp(const char *name, size_t *len)
{
    char path[PATH_MAX];
    unsigned char *data = NULL;
    FILE *f;
    long n;

    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc((size_t)n);
        if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
            free(data);
            data = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return data;
}

static int group_setup(void **state)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmp, sizeof(tmp), "%s/formd-ocr-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp))
        return -1;
    if (find_script() != 0) {
        fprintf(stderr, "cannot find ocr_image.py (tried '%s'); set FORMD_SRC_DIR\n", script);
        return -1;
    }
    if (draw("form.png") != 0 || draw("form.jpg") != 0) {
        fprintf(stderr, "ocr_image.py failed: are python3-pil and fonts-dejavu-core in?\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    ai_ocr_shutdown();
    return nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ---- */

/* text lowercased, without whitespace, into out[cap]. */
static void squash(const char *text, char *out, size_t cap)
{
    size_t n = 0;

    for (; *text && n + 1 < cap; text++) {
        if (*text == ' ' || *text == '\n' || *text == '\t' || *text == '\r')
            continue;
        out[n++] = (*text >= 'A' && *text <= 'Z') ? (char)(*text - 'A' + 'a') : *text;
    }
    out[n] = '\0';
}

static void assert_form_text(const char *text)
{
    char sq[1024];

    squash(text, sq, sizeof(sq));
    if (!strstr(sq, "name:adalovelace") || !strstr(sq, "email:ada@example.org")
        || !strstr(sq, "age:36"))
        fail_msg("ocr text does not hold the form: '%s'", text);
}

/* OCRs tmp/name with options o; returns the code, text in *text. */
static int ocr_file(const char *name, const struct ai_ocr_options *o, char **text,
                    struct ai_ocr_stats *st, struct fmd_err *err)
{
    unsigned char *data;
    size_t len = 0;
    int rc;

    data = slurp(name, &len);
    assert_non_null(data);
    rc = ai_ocr_text(data, len, o, text, st, err);
    free(data);
    return rc;
}

/* ---- tests ---- */

static void test_png(void **state)
{
    struct ai_ocr_stats st;
    struct fmd_err err = { 0 };
    char *text = NULL;

    assert_int_equal(ocr_file("form.png", NULL, &text, &st, &err), 0);
    assert_non_null(text);
    assert_form_text(text);
    assert_int_equal(text[strlen(text) - 1] != '\n', 1);
    assert_int_equal(st.width, 466);
    assert_int_equal(st.height, 193);
    assert_in_range(st.confidence, 60, 100);
    print_message("png: %dx%d, confidence %d, %ld ms: '%s'\n", st.width, st.height,
                  st.confidence, st.ms, text);
    fmd_free(text);
}

static void test_jpeg(void **state)
{
    struct ai_ocr_stats st;
    struct fmd_err err = { 0 };
    char *text = NULL;

    assert_int_equal(ocr_file("form.jpg", NULL, &text, &st, &err), 0);
    assert_form_text(text);
    print_message("jpeg: confidence %d, %ld ms\n", st.confidence, st.ms);
    fmd_free(text);
}

/* Every other format the module accepts, as PIL writes it. */
static void test_formats(void **state)
{
    static const char *names[] = { "form.tiff", "form.pgm", "form.bmp", "form.webp",
                                    "form.jp2" };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct ai_ocr_stats st;
        struct fmd_err err = { 0 };
        char *text = NULL;
        int rc;

        assert_int_equal(draw(names[i]), 0);
        rc = ocr_file(names[i], NULL, &text, &st, &err);
        if (rc)
            fail_msg("%s: %d '%s'", names[i], rc, err.msg);
        assert_form_text(text);
        print_message("%s: confidence %d, %ld ms\n", names[i], st.confidence, st.ms);
        fmd_free(text);
    }
}

static void test_blank_pixel(void **state)
{
    static const unsigned char pgm[] = "P5\n1 1\n255\n\xff";
    struct ai_ocr_stats st;
    struct fmd_err err = { 0 };
    char *text = NULL;

    assert_int_equal(ai_ocr_text(pgm, sizeof(pgm) - 1, NULL, &text, &st, &err), 0);
    assert_non_null(text);
    assert_string_equal(text, "");
    assert_int_equal(st.width, 1);
    assert_int_equal(st.height, 1);
    fmd_free(text);
}

static void test_garbage(void **state)
{
    static const unsigned char junk[] = "this is not an image, just some bytes\x01\x02\x03";
    unsigned char *png;
    size_t len = 0;
    struct fmd_err err = { 0 };
    char *text = (char *)1;

    assert_int_equal(ai_ocr_text(junk, sizeof(junk), NULL, &text, NULL, &err), FMD_EINVAL);
    assert_null(text);
    assert_string_equal(err.msg, "not an image formd can read");
    assert_int_equal(ai_ocr_text(junk, 0, NULL, &text, NULL, &err), FMD_EINVAL);
    assert_int_equal(ai_ocr_text(junk, 3, NULL, &text, NULL, &err), FMD_EINVAL);

    /* A PNG cut after its header: the size reads, the pixels do not. */
    png = slurp("form.png", &len);
    assert_non_null(png);
    assert_int_equal(ai_ocr_text(png, 100, NULL, &text, NULL, &err), FMD_EINVAL);
    assert_null(text);
    free(png);
}

static void test_gif(void **state)
{
    struct fmd_err err = { 0 };
    char *text = NULL;

    assert_int_equal(draw("form.gif"), 0);
    assert_int_equal(ocr_file("form.gif", NULL, &text, NULL, &err), FMD_EMEDIA);
    assert_null(text);
}

/* The header-only check the API makes before it queues an OCR task. */
static void test_check(void **state)
{
    static const unsigned char pgm[] = "P5\n1 1\n255\n\xff";
    static const unsigned char huge[] = "P5\n100000 100000\n255\n\xff\xff\xff\xff";
    static const unsigned char junk[] = "this is not an image, just some bytes";
    struct fmd_err err = { 0 };
    unsigned char *gif;
    size_t len = 0;

    assert_int_equal(ai_ocr_check(pgm, sizeof(pgm) - 1, &err), 0);
    assert_int_equal(ai_ocr_check(junk, sizeof(junk), &err), FMD_EINVAL);
    assert_string_equal(err.msg, "not an image formd can read");
    assert_int_equal(ai_ocr_check(junk, 0, &err), FMD_EINVAL);
    assert_int_equal(ai_ocr_check(huge, sizeof(huge) - 1, &err), FMD_ETOOBIG);
    assert_int_equal(draw("form.gif"), 0);
    gif = slurp("form.gif", &len);
    assert_non_null(gif);
    assert_int_equal(ai_ocr_check(gif, len, &err), FMD_EMEDIA);
    free(gif);
}

/* A header claiming 100000 x 100000 pixels with no pixels behind it. */
static void test_too_many_pixels(void **state)
{
    static const unsigned char pgm[] = "P5\n100000 100000\n255\n\xff\xff\xff\xff";
    struct ai_ocr_options o = { .max_pixels = 1000 };
    struct ai_ocr_stats st;
    struct fmd_err err = { 0 };
    char *text = NULL;

    assert_int_equal(ai_ocr_text(pgm, sizeof(pgm) - 1, NULL, &text, &st, &err), FMD_ETOOBIG);
    assert_null(text);
    assert_int_equal(st.width, 100000);
    assert_in_range(st.ms, 0, 50);
    print_message("%s\n", err.msg);

    assert_int_equal(ocr_file("form.png", &o, &text, &st, &err), FMD_ETOOBIG);
    assert_int_equal(ocr_file("form.jpg", &o, &text, &st, &err), FMD_ETOOBIG);
    assert_null(text);
}

static void test_too_many_bytes(void **state)
{
    struct ai_ocr_options o = { .max_bytes = 1000 };
    struct fmd_err err = { 0 };
    char *text = NULL;

    assert_int_equal(ocr_file("form.png", &o, &text, NULL, &err), FMD_ETOOBIG);
    assert_null(text);
    print_message("%s\n", err.msg);
}

static void test_timeout(void **state)
{
    struct ai_ocr_options o = { .timeout_ms = 1 };
    struct fmd_err err = { 0 };
    char *text = NULL;

    assert_int_equal(ocr_file("form.png", &o, &text, NULL, &err), FMD_ETIMEOUT);
    assert_null(text);
    /* The engine was ended, not pooled half way: the next call reads well. */
    assert_int_equal(ocr_file("form.png", NULL, &text, NULL, &err), 0);
    assert_form_text(text);
    fmd_free(text);
}

static void test_no_model(void **state)
{
    struct ai_ocr_options o = { .tessdata = "/nonexistent/tessdata" };
    struct ai_ocr_options l = { .lang = "xyz" };
    struct fmd_err err = { 0 };
    char *text = NULL;

    assert_int_equal(ocr_file("form.png", &o, &text, NULL, &err), FMD_EUNAVAIL);
    assert_null(text);
    print_message("%s\n", err.msg);
    assert_int_equal(ocr_file("form.png", &l, &text, NULL, &err), FMD_EUNAVAIL);
}

struct job {
    const char *name;
    int rc;
    char *text;
};

static void *ocr_thread(void *arg)
{
    struct job *j = arg;
    struct fmd_err err = { 0 };

    j->rc = ocr_file(j->name, NULL, &j->text, NULL, &err);
    return NULL;
}

static void test_threads(void **state)
{
    struct job jobs[2] = { { "form.png", -1, NULL }, { "form.jpg", -1, NULL } };
    pthread_t t[2];
    int i;

    ai_ocr_shutdown();                  /* both start engines at once */
    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, ocr_thread, &jobs[i]), 0);
    for (i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(jobs[i].rc, 0);
        assert_form_text(jobs[i].text);
        fmd_free(jobs[i].text);
    }
}

/* Allocation N fails, N = 1.. until the call succeeds: clean errors, no leak. */
static void test_alloc_failures(void **state)
{
    unsigned char *png;
    size_t len = 0;
    long nth;
    int rc = -1;

    png = slurp("form.png", &len);
    assert_non_null(png);
    for (nth = 1; nth < 20 && rc != 0; nth++) {
        struct fmd_err err = { 0 };
        char *text = NULL;

        ai_ocr_shutdown();              /* so the engine's allocations count too */
        fmd_mem_fail_at(nth);
        rc = ai_ocr_text(png, len, NULL, &text, NULL, &err);
        fmd_mem_fail_at(0);
        if (rc) {
            assert_int_equal(rc, FMD_ENOMEM);
            assert_null(text);
        } else {
            assert_form_text(text);
        }
        fmd_free(text);
    }
    assert_int_equal(rc, 0);
    assert_in_range(nth, 3, 19);
    free(png);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png),
        cmocka_unit_test(test_jpeg),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_blank_pixel),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_gif),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_too_many_pixels),
        cmocka_unit_test(test_too_many_bytes),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_no_model),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_alloc_failures),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
