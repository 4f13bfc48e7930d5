/*
 * ocr.h - the text of a scanned form page, for AI extraction.
 *
 * Tesseract (its C API) reads the text of one image decoded by leptonica.
 * Accepted formats: PNG, JPEG, TIFF (first page; uncompressed, LZW, ZIP,
 * PackBits, G3/G4, JPEG), PNM (PBM/PGM/PPM/PAM), BMP, WebP and JPEG 2000.
 * GIF is refused (leptonica decodes a whole GIF to learn its size, so its
 * size could not be checked before decoding).
 *
 * Tesseract engines are expensive to start (~0.1 s, ~20 MB with the English
 * model), so they are kept in one process-wide pool guarded by a mutex: a call
 * takes an idle engine (or starts one when none is idle) and gives it back
 * after; at most AI_OCR_POOL_IDLE stay idle, more are ended. Calls on
 * different threads run in parallel, each on its own engine.
 */
#ifndef FMD_AI_OCR_H
#define FMD_AI_OCR_H

#include <stddef.h>

#include "core/err.h"

#define AI_OCR_MAX_BYTES    (10u * 1024 * 1024)   /* default max_bytes */
#define AI_OCR_MAX_PIXELS   40000000ull           /* default max_pixels (40 MP) */
#define AI_OCR_TIMEOUT_MS   30000L                /* default timeout_ms */
#define AI_OCR_TESSDATA     "/usr/share/tesseract-ocr/5/tessdata"  /* Debian 12's */
#define AI_OCR_POOL_IDLE    4                     /* idle engines kept at most */

/* Every field 0 or NULL means its default. */
struct ai_ocr_options {
    size_t max_bytes;                 /* larger input: FMD_ETOOBIG */
    unsigned long long max_pixels;    /* width x height from the header, more: FMD_ETOOBIG */
    long timeout_ms;                  /* recognition time at most: FMD_ETIMEOUT */
    const char *tessdata;             /* directory holding eng.traineddata */
    const char *lang;                 /* Tesseract language(s), "eng" by default */
};

struct ai_ocr_stats {
    int width, height;                /* of the decoded image, pixels */
    int confidence;                   /* Tesseract's mean word confidence, 0..100 */
    long ms;                          /* wall time of the whole call */
};

/*
 * Reads the text of the image in image[len] into *text: UTF-8, lines ending
 * in '\n', trailing whitespace removed; "" for an image without text. *text
 * is fmd_malloc'd and the caller's (fmd_free); it is NULL on failure. o and
 * st may be NULL; st is filled as far as the call got.
 *
 * Size limits are checked before decoding, from the format's header:
 * FMD_ETOOBIG for more than max_bytes of input or max_pixels. The time limit
 * counts from the call's start but is enforced during recognition only
 * (Tesseract's monitor, checked between words, stops within ~50 ms):
 * decoding, starting an engine and page layout analysis are not interrupted
 * and are bounded by the size limits instead. Fails with FMD_EINVAL
 * ("not an image formd can read") for bytes leptonica cannot decode,
 * FMD_EMEDIA for GIF, FMD_ETIMEOUT, FMD_EUNAVAIL when the model cannot be
 * loaded, FMD_EINTERNAL when Tesseract fails, FMD_ENOMEM.
 */
int ai_ocr_text(const unsigned char *image, size_t len, const struct ai_ocr_options *o,
                char **text, struct ai_ocr_stats *st, struct fmd_err *err);

/*
 * Checks, from its header only (cheap: nothing is decoded), that image is one
 * ai_ocr_text would read within the default limits: 0, or FMD_EINVAL,
 * FMD_EMEDIA or FMD_ETOOBIG as ai_ocr_text would fail. For answering a bad
 * upload at once instead of in a task later.
 */
int ai_ocr_check(const unsigned char *image, size_t len, struct fmd_err *err);

/*
 * Ends every idle engine in the pool (at shutdown, or to give memory back).
 * Engines in use stay with their calls and go back to the pool after.
 */
void ai_ocr_shutdown(void);

#endif
