/* model/tokenizer_regex.c — the pre-tokenizer Split regexes of the supported families as hand-written
 * matchers, not a regex engine. Each matcher answers "how long is the match that starts exactly at i?",
 * trying the alternatives in order with the backtracking the regex would do (greedy quantifiers, the
 * (?!\S) look-ahead); the caller scans left to right as a regex search does. The look-ahead sees only the
 * current piece: Hugging Face runs each Split on each piece left by the previous one.
 * \s is Unicode White_Space (onig / fancy-regex semantics), \p{X} the general category class. */
#include "model/tokenizer-impl.h"

#include <string.h>

static const char PAT_GPT4_N3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_GPT4_N1[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_DS_DIGITS[] = "\\p{N}{1,3}";
static const char PAT_DS_CJK[] = "[\xE4\xB8\x80-\xE9\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF]+";
static const char PAT_DS_MAIN[] =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* Compare a pattern from tokenizer.json with ours, treating a literal CR/LF in it like "\r"/"\n". */
static int pattern_eq(const char *json, const char *ours) {
    while (*json && *ours) {
        if (*json == '\r' || *json == '\n') {
            if (ours[0] != '\\' || ours[1] != (*json == '\r' ? 'r' : 'n')) return 0;
            json++;
            ours += 2;
            continue;
        }
        if (*json++ != *ours++) return 0;
    }
    return *json == 0 && *ours == 0;
}

rk_split_kind rk_split_from_pattern(const char *p) {
    if (pattern_eq(p, PAT_GPT4_N3)) return RK_SPLIT_GPT4_N3;
    if (pattern_eq(p, PAT_GPT4_N1)) return RK_SPLIT_GPT4_N1;
    if (pattern_eq(p, PAT_DS_DIGITS)) return RK_SPLIT_DS_DIGITS;
    if (pattern_eq(p, PAT_DS_CJK)) return RK_SPLIT_DS_CJK;
    if (pattern_eq(p, PAT_DS_MAIN)) return RK_SPLIT_DS_MAIN;
    if (pattern_eq(p, PAT_GPT2)) return RK_SPLIT_GPT2;
    return (rk_split_kind)0;
}

static int is_L(uint32_t c) { return rk_uni_class(c) == RK_UC_L; }
static int is_N(uint32_t c) { return rk_uni_class(c) == RK_UC_N; }
static int is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }
static int is_sp(uint32_t c) { return rk_uni_is_space(c); }
static int is_PS(uint32_t c) { int k = rk_uni_class(c); return k == RK_UC_P || k == RK_UC_S; }
static int is_LM(uint32_t c) { int k = rk_uni_class(c); return k == RK_UC_L || k == RK_UC_M; }
/* [^\s\p{L}\p{N}] */
static int is_other(uint32_t c) { int k = rk_uni_class(c); return k != RK_UC_L && k != RK_UC_N && !is_sp(c); }

/* 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive */
static size_t m_contraction(const uint32_t *cp, size_t i, size_t n, int icase) {
    if (cp[i] != '\'' || i + 1 >= n) return 0;
    uint32_t a = icase ? rk_uni_fold_to_ascii(cp[i + 1]) : cp[i + 1];
    uint32_t b = i + 2 < n ? (icase ? rk_uni_fold_to_ascii(cp[i + 2]) : cp[i + 2]) : 0;
    if (a == 's' || a == 't') return 2;
    if ((a == 'r' || a == 'v') && b == 'e') return 3;
    if (a == 'm') return 2;
    if (a == 'l' && b == 'l') return 3;
    if (a == 'd') return 2;
    return 0;
}

/* \s*[\r\n]+ | \s+(?!\S) | \s+  — the three whitespace alternatives that end all the GPT-style patterns */
static size_t m_space_tail(const uint32_t *cp, size_t i, size_t n) {
    if (!is_sp(cp[i])) return 0;
    size_t k = i;
    while (k < n && is_sp(cp[k])) k++;
    for (size_t p = k; p > i; p--)      /* \s*[\r\n]+: ends after the last CR/LF of the run */
        if (is_crlf(cp[p - 1])) return p - i;
    if (k == n) return k - i;            /* \s+(?!\S) at the end of the piece */
    if (k - i >= 2) return k - 1 - i;    /* \s+(?!\S) leaving one space before the non-space */
    return k - i;                        /* \s+ */
}

static size_t m_gpt4(const uint32_t *cp, size_t i, size_t n, int max_digits) {
    size_t m = m_contraction(cp, i, n, 1);
    if (m) return m;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    uint32_t c = cp[i];
    size_t j = i;
    if (!is_crlf(c) && !is_L(c) && !is_N(c) && i + 1 < n && is_L(cp[i + 1])) j = i + 1;
    if (is_L(cp[j])) {
        while (j < n && is_L(cp[j])) j++;
        return j - i;
    }
    /* \p{N}{1,max} */
    if (is_N(c)) {
        j = i;
        while (j < n && j - i < (size_t)max_digits && is_N(cp[j])) j++;
        return j - i;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    j = i;
    if (c == ' ' && i + 1 < n && is_other(cp[i + 1])) j = i + 1;
    if (is_other(cp[j])) {
        while (j < n && is_other(cp[j])) j++;
        while (j < n && is_crlf(cp[j])) j++;
        return j - i;
    }
    return m_space_tail(cp, i, n);
}

static int is_ascii_punct(uint32_t c) {
    return c < 0x80 && c > 0x20 && c != 0x7f && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !(c >= '0' && c <= '9');
}
static int is_ascii_alpha(uint32_t c) { return c < 0x80 && (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

static size_t m_ds_main(const uint32_t *cp, size_t i, size_t n) {
    uint32_t c = cp[i];
    size_t j;
    /* [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+ */
    if (is_ascii_punct(c) && i + 1 < n && is_ascii_alpha(cp[i + 1])) {
        j = i + 1;
        while (j < n && is_ascii_alpha(cp[j])) j++;
        return j - i;
    }
    /* [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+ */
    int k = rk_uni_class(c);
    j = i;
    if (!is_crlf(c) && k != RK_UC_L && k != RK_UC_P && k != RK_UC_S && i + 1 < n && is_LM(cp[i + 1])) j = i + 1;
    if (is_LM(cp[j])) {
        while (j < n && is_LM(cp[j])) j++;
        return j - i;
    }
    /*  ?[\p{P}\p{S}]+[\r\n]* */
    j = i;
    if (c == ' ' && i + 1 < n && is_PS(cp[i + 1])) j = i + 1;
    if (is_PS(cp[j])) {
        while (j < n && is_PS(cp[j])) j++;
        while (j < n && is_crlf(cp[j])) j++;
        return j - i;
    }
    return m_space_tail(cp, i, n);
}

static size_t m_gpt2(const uint32_t *cp, size_t i, size_t n) {
    size_t m = m_contraction(cp, i, n, 0);
    if (m) return m;
    size_t j = cp[i] == ' ' && i + 1 < n ? i + 1 : i;
    if (is_L(cp[j])) { while (j < n && is_L(cp[j])) j++; return j - i; }
    j = cp[i] == ' ' && i + 1 < n ? i + 1 : i;
    if (is_N(cp[j])) { while (j < n && is_N(cp[j])) j++; return j - i; }
    j = cp[i] == ' ' && i + 1 < n ? i + 1 : i;
    if (is_other(cp[j])) { while (j < n && is_other(cp[j])) j++; return j - i; }
    /* \s+(?!\S)|\s+ */
    if (!is_sp(cp[i])) return 0;
    size_t k = i;
    while (k < n && is_sp(cp[k])) k++;
    if (k == n || k - i < 2) return k - i;
    return k - 1 - i;
}

static int is_ds_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x3040 && c <= 0x309F) || (c >= 0x30A0 && c <= 0x30FF);
}

size_t rk_split_match(rk_split_kind kind, const uint32_t *cp, size_t i, size_t n) {
    size_t j = i;
    switch (kind) {
    case RK_SPLIT_GPT4_N3: return m_gpt4(cp, i, n, 3);
    case RK_SPLIT_GPT4_N1: return m_gpt4(cp, i, n, 1);
    case RK_SPLIT_DS_DIGITS:
        while (j < n && j - i < 3 && is_N(cp[j])) j++;
        return j - i;
    case RK_SPLIT_DS_CJK:
        while (j < n && is_ds_cjk(cp[j])) j++;
        return j - i;
    case RK_SPLIT_DS_MAIN: return m_ds_main(cp, i, n);
    case RK_SPLIT_GPT2: return m_gpt2(cp, i, n);
    }
    return 0;
}
