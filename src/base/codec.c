#include "base/codec.h"

#include <openssl/evp.h>
#include <string.h>

static const char hex_digits[] = "0123456789abcdef";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void codec_hex_encode(const void *data, size_t n, char *out)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[p[i] >> 4];
        out[2 * i + 1] = hex_digits[p[i] & 0xf];
    }
    out[2 * n] = '\0';
}

int codec_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int codec_hex_decode(const char *s, size_t len, void *out, size_t out_cap, size_t *out_len)
{
    if (len % 2 != 0 || len / 2 > out_cap)
        return -1;
    unsigned char *o = out;
    for (size_t i = 0; i < len; i += 2) {
        int hi = codec_hex_value((unsigned char)s[i]);
        int lo = codec_hex_value((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        o[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    *out_len = len / 2;
    return 0;
}

size_t codec_base64_encoded_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);
    if (groups > SIZE_MAX / 4)
        return SIZE_MAX;
    return groups * 4;
}

void codec_base64_encode(const void *data, size_t n, char *out)
{
    const unsigned char *p = data;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int codec_base64_decoded_len(const char *s, size_t len, size_t *out_len)
{
    if (len % 4 != 0)
        return -1;
    size_t pad = 0;
    if (len >= 1 && s[len - 1] == '=')
        pad++;
    if (len >= 2 && s[len - 2] == '=')
        pad++;
    if (pad == 1 && len >= 2 && s[len - 2] == '=')
        return -1;
    *out_len = len / 4 * 3 - pad;
    return 0;
}

int codec_base64_decode(const char *s, size_t len, void *out, size_t out_cap, size_t *out_len)
{
    size_t n;
    if (codec_base64_decoded_len(s, len, &n) < 0 || n > out_cap)
        return -1;
    unsigned char *o = out;
    size_t w = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            /* '=' only in the last group's last two slots, and once started,
             * padding runs to the end */
            if (c == '=' && last && k >= 2) {
                pad++;
                v[k] = 0;
                continue;
            }
            if (pad > 0)
                return -1;
            v[k] = b64_value(c);
            if (v[k] < 0)
                return -1;
        }
        uint32_t bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        /* the unused low bits of a padded group must be zero */
        if ((pad == 1 && (bits & 0xff) != 0) || (pad == 2 && (bits & 0xffff) != 0))
            return -1;
        o[w++] = (unsigned char)(bits >> 16);
        if (pad < 2)
            o[w++] = (unsigned char)(bits >> 8);
        if (pad < 1)
            o[w++] = (unsigned char)bits;
    }
    *out_len = w;
    return 0;
}

int codec_sha256(const void *data, size_t n, unsigned char out[CODEC_SHA256_LEN])
{
    unsigned int len = 0;
    if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1 || len != CODEC_SHA256_LEN)
        return -1;
    return 0;
}

int codec_sha256_hex(const void *data, size_t n, char out[CODEC_SHA256_HEX_LEN + 1])
{
    unsigned char md[CODEC_SHA256_LEN];
    if (codec_sha256(data, n, md) < 0)
        return -1;
    codec_hex_encode(md, sizeof(md), out);
    return 0;
}

int codec_percent_decode(const char *src, size_t len, bool plus_is_space, char *out, size_t room,
                         size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = codec_hex_value((unsigned char)src[i + 1]);
            int lo = codec_hex_value((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (o + 1 >= room)
            return -1;
        out[o++] = c;
    }
    if (room == 0)
        return -1;
    out[o] = 0;
    if (out_len)
        *out_len = o;
    return 0;
}

bool codec_equal_ct(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)b[lb ? i % lb : 0];
    return diff == 0;
}
