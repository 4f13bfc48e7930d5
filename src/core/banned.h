/*
 * banned.h - functions formd never calls.
 *
 * Each of these has a bounded or safer replacement in core: buf_printf or
 * snprintf for sprintf, memcpy with a known length for strcpy, strtoll with
 * full error checks (core/config.c parse_int) for atoi, gmtime_r for gmtime.
 * Included last by every source file so a use is a compile error.
 */
#ifndef FMD_BANNED_H
#define FMD_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef gmtime
#define gmtime(x) BANNED(gmtime)
#undef localtime
#define localtime(x) BANNED(localtime)

#endif
