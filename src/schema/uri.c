/*
 * uri.c - resolving URI references against a base (RFC 3986 section 5), for
 * "$id", "$ref" and "$dynamicRef".
 *
 * A URI splits into scheme ":" ["//" authority] path ["?" query] ["#"
 * fragment]; a reference is resolved component by component against the base
 * (section 5.2.2) and dot segments are removed from the merged path
 * (section 5.2.4). Nothing is decoded or normalised beyond that: schema
 * identifiers are compared as strings.
 */
#include "schema/schema_int.h"

#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "core/banned.h"

/* The components of a URI reference; a NULL start means "absent". */
struct uri {
    const char *scheme, *auth, *path, *query, *frag;
    size_t nscheme, nauth, npath, nquery, nfrag;
};

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static size_t scheme_len(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || !is_alpha(s[0]))
        return 0;
    for (i = 1; i < n && (is_alpha(s[i]) || (s[i] >= '0' && s[i] <= '9') || s[i] == '+' ||
                          s[i] == '-' || s[i] == '.'); i++)
        ;
    return i < n && s[i] == ':' ? i : 0;
}

int schema__uri_is_absolute(const char *s)
{
    return scheme_len(s, strlen(s)) > 0;
}

static void uri_parse(const char *s, size_t n, struct uri *u)
{
    size_t i = 0, k;

    memset(u, 0, sizeof(*u));
    if ((k = scheme_len(s, n))) {
        u->scheme = s;
        u->nscheme = k;
        i = k + 1;
    }
    if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
        i += 2;
        u->auth = s + i;
        while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#')
            i++;
        u->nauth = (size_t)(s + i - u->auth);
    }
    u->path = s + i;
    while (i < n && s[i] != '?' && s[i] != '#')
        i++;
    u->npath = (size_t)(s + i - u->path);
    if (i < n && s[i] == '?') {
        u->query = s + ++i;
        while (i < n && s[i] != '#')
            i++;
        u->nquery = (size_t)(s + i - u->query);
    }
    if (i < n && s[i] == '#') {
        u->frag = s + i + 1;
        u->nfrag = n - i - 1;
    }
}

/* RFC 3986 5.2.4 on p[0..n), appended to out. */
static int remove_dots(struct buf *out, const char *p, size_t n)
{
    size_t start = out->len, i = 0;
    int rc = 0;

    while (!rc && i < n) {
        const char *s = p + i;
        size_t left = n - i, seg;
        if (left >= 3 && memcmp(s, "../", 3) == 0) {
            i += 3;
        } else if (left >= 2 && memcmp(s, "./", 2) == 0) {
            i += 2;
        } else if ((left >= 3 && memcmp(s, "/./", 3) == 0) ||
                   (left == 2 && memcmp(s, "/.", 2) == 0)) {
            i += 2;
            if (left == 2)
                rc = buf_addc(out, '/');
        } else if ((left >= 4 && memcmp(s, "/../", 4) == 0) ||
                   (left == 3 && memcmp(s, "/..", 3) == 0)) {
            i += 3;
            while (out->len > start && out->p[out->len - 1] != '/')
                out->len--;
            if (out->len > start)
                out->len--;
            out->p[out->len] = '\0';
            if (left == 3)
                rc = buf_addc(out, '/');
        } else if ((left == 1 && s[0] == '.') || (left == 2 && memcmp(s, "..", 2) == 0)) {
            i = n;
        } else {
            seg = s[0] == '/' ? 1 : 0;
            while (seg < left && s[seg] != '/')
                seg++;
            rc = buf_add(out, s, seg);
            i += seg;
        }
    }
    return rc ? FMD_ENOMEM : 0;
}

static int add_part(struct buf *b, const char *pre, const char *s, size_t n)
{
    return s && (buf_adds(b, pre) || buf_add(b, s, n)) ? FMD_ENOMEM : 0;
}

/* The path of a reference merged with the base's (5.2.3), dots removed. */
static int merge_path(struct buf *b, const struct uri *base, const struct uri *r)
{
    struct buf m;
    size_t k;
    int rc = 0;

    if (r->npath && r->path[0] == '/')
        return remove_dots(b, r->path, r->npath);
    buf_init(&m, (size_t)1 << 20);
    if (base->auth && base->npath == 0) {
        rc = buf_addc(&m, '/');
    } else {
        for (k = base->npath; k > 0 && base->path[k - 1] != '/'; k--)
            ;
        rc = buf_add(&m, base->path, k);
    }
    if (!rc)
        rc = buf_add(&m, r->path, r->npath);
    rc = rc ? FMD_ENOMEM : remove_dots(b, m.p, m.len);
    buf_release(&m);
    return rc;
}

int schema__uri_resolve(const char *base, const char *ref, size_t n, char **out)
{
    struct uri b, r;
    struct buf o;
    int rc = 0;

    *out = NULL;
    uri_parse(base, strlen(base), &b);
    uri_parse(ref, n, &r);
    if (!b.scheme)
        return FMD_EUNPROC;
    buf_init(&o, (size_t)1 << 20);
    if (r.scheme) {
        rc = add_part(&o, "", r.scheme, r.nscheme) || buf_addc(&o, ':') ||
             add_part(&o, "//", r.auth, r.nauth) || remove_dots(&o, r.path, r.npath) ||
             add_part(&o, "?", r.query, r.nquery);
    } else {
        rc = add_part(&o, "", b.scheme, b.nscheme) || buf_addc(&o, ':');
        if (!rc && r.auth) {
            rc = add_part(&o, "//", r.auth, r.nauth) || remove_dots(&o, r.path, r.npath) ||
                 add_part(&o, "?", r.query, r.nquery);
        } else if (!rc) {
            rc = add_part(&o, "//", b.auth, b.nauth);
            if (!rc && r.npath == 0)
                rc = buf_add(&o, b.path, b.npath) ||
                     add_part(&o, "?", r.query ? r.query : b.query, r.query ? r.nquery : b.nquery);
            else if (!rc)
                rc = merge_path(&o, &b, &r) || add_part(&o, "?", r.query, r.nquery);
        }
    }
    if (!rc)
        rc = add_part(&o, "#", r.frag, r.nfrag);
    if (!rc && !(*out = fmd_strndup(o.p, o.len)))
        rc = 1;
    buf_release(&o);
    return rc ? FMD_ENOMEM : 0;
}
