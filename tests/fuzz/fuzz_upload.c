/*
 * fuzz_upload.c - libFuzzer target for uploads. formd takes no multipart
 * bodies: a scanned page comes as base64 in a JSON member ("image" of
 * POST /v1/forms/{id}/ai/ocr), checked by base64_decode (src/core/buf.c) in
 * the handler and decoded again by the OCR task, whose image checks
 * (src/ai/ocr.c: format sniffing, GIF refused, the pixel limit read from the
 * header before anything is decoded) then hand the bytes to leptonica.
 *
 * The input's first byte picks the path:
 *   even: the rest is base64 text; an accepted text decodes to bytes that
 *         encode back to the same text once its line breaks are removed.
 *   odd:  the rest is an image file, through ocr.c's decode() (included
 *         here: it is static) with a 1-megapixel limit; no Tesseract runs.
 * Checks: decode() answers a picture within the limit, or FMD_EINVAL /
 * FMD_EMEDIA / FMD_ETOOBIG with a message and no picture.
 * Seeds: corpus/fuzz_upload/ (small PNG, JPEG, BMP, PNM, TIFF, GIF files).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../src/ai/ocr.c"
#include "core/buf.h"
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PIXELS (1ull << 20)

static void check_base64(const char *text)
{
    unsigned char *bin = NULL;
    size_t len = 0, i, n = 0;
    char *stripped = malloc(strlen(text) + 1), *again;
    int rc = base64_decode(text, &bin, &len);

    if (!stripped)
        abort();
    if (rc) {
        if (rc != FMD_EINVAL || bin || len)
            abort();
        free(stripped);
        return;
    }
    for (i = 0; text[i]; i++)
        if (text[i] != '\r' && text[i] != '\n')
            stripped[n++] = text[i];
    stripped[n] = '\0';
    if (!bin || !len || len > strlen(text) / 4 * 3 + 3)
        abort();
    again = malloc(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL));
    if (!again)
        abort();
    sodium_bin2base64(again, sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL), bin,
                      len, sodium_base64_VARIANT_ORIGINAL);
    if (strcmp(again, stripped))
        abort();
    free(again);
    free(stripped);
    fmd_free(bin);
}

static void check_image(const unsigned char *image, size_t len)
{
    struct ai_ocr_stats st = {0};
    struct fmd_err err = {0};
    PIX *pix = NULL;
    int rc = decode(image, len, MAX_PIXELS, &pix, &st, &err);

    if (rc == 0) {
        if (!pix || pixGetWidth(pix) <= 0 || pixGetHeight(pix) <= 0 ||
            (unsigned long long)pixGetWidth(pix) * (unsigned long long)pixGetHeight(pix) >
                MAX_PIXELS || pixGetSpp(pix) == 4)
            abort();
        pixDestroy(&pix);
        return;
    }
    if (pix || !err.msg[0] || (rc != FMD_EINVAL && rc != FMD_EMEDIA && rc != FMD_ETOOBIG))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    char *text;

    pthread_once(&once, quiet);
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        check_image(data + 1, size - 1);
        return 0;
    }
    if (!(text = malloc(size)))
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    check_base64(text);
    free(text);
    return 0;
}
