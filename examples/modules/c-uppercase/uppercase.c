/*
 * uppercase.c: a WASI preview1 command. It reads one JSON value from stdin and writes the same JSON to stdout
 * with every string value uppercased; keys, numbers and literals are copied as written. Invalid JSON: a message
 * on stderr and exit code 1. No dependencies beyond libc: a small recursive-descent reader writes the output as
 * it goes.
 *
 * towupper maps one code point to one (é -> É, ω -> Ω), so unlike the AssemblyScript and Rust examples "ß" stays
 * "ß" rather than becoming "SS".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

/* Deeper nesting is refused rather than risking the module's 64 KiB stack. */
#define MAX_DEPTH 512

static unsigned char *in;
static size_t in_length, pos;
static char *out;
static size_t out_length, out_capacity;
static const char *problem;
static size_t problem_at;

static void put(const void *bytes, size_t n) {
    if (out_length + n > out_capacity) {
        while (out_length + n > out_capacity) out_capacity = out_capacity ? out_capacity * 2 : 65536;
        out = realloc(out, out_capacity);
        if (!out) { fputs("uppercase: out of memory\n", stderr); exit(2); }
    }
    memcpy(out + out_length, bytes, n);
    out_length += n;
}

static void put_char(char c) { put(&c, 1); }

static int fail(const char *why) {
    if (!problem) { problem = why; problem_at = pos; }
    return 0;
}

static int peek(void) { return pos < in_length ? in[pos] : -1; }

static void skip_whitespace(void) {
    while (pos < in_length && (in[pos] == ' ' || in[pos] == '\t' || in[pos] == '\n' || in[pos] == '\r')) pos++;
}

static void put_code_point(unsigned long c) {
    static const char hex[] = "0123456789abcdef";
    char bytes[6];
    if (c == '"' || c == '\\') { bytes[0] = '\\'; bytes[1] = (char)c; put(bytes, 2); }
    else if (c == '\n') put("\\n", 2);
    else if (c == '\r') put("\\r", 2);
    else if (c == '\t') put("\\t", 2);
    else if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) { /* control characters and lone surrogates */
        bytes[0] = '\\'; bytes[1] = 'u';
        for (int i = 0; i < 4; i++) bytes[2 + i] = hex[(c >> (12 - 4 * i)) & 15];
        put(bytes, 6);
    } else if (c < 0x80) put_char((char)c);
    else if (c < 0x800) { bytes[0] = (char)(0xc0 | c >> 6); bytes[1] = (char)(0x80 | (c & 63)); put(bytes, 2); }
    else if (c < 0x10000) {
        bytes[0] = (char)(0xe0 | c >> 12); bytes[1] = (char)(0x80 | (c >> 6 & 63)); bytes[2] = (char)(0x80 | (c & 63));
        put(bytes, 3);
    } else {
        bytes[0] = (char)(0xf0 | c >> 18); bytes[1] = (char)(0x80 | (c >> 12 & 63));
        bytes[2] = (char)(0x80 | (c >> 6 & 63)); bytes[3] = (char)(0x80 | (c & 63));
        put(bytes, 4);
    }
}

static long hex4(void) {
    long code = 0;
    for (int i = 0; i < 4; i++, pos++) {
        int c = peek(), h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (h < 0) return -1;
        code = code * 16 + h;
    }
    return code;
}

/* The next code point of a string body (after its escapes are decoded), or -1 when invalid. */
static long next_code_point(void) {
    unsigned char c = in[pos++];
    if (c < 0x20) return fail("control character in a string"), -1;
    if (c == '\\') {
        int e = peek();
        pos++;
        switch (e) {
        case '"': case '\\': case '/': return e;
        case 'b': return '\b';
        case 'f': return '\f';
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case 'u': {
            long code = hex4();
            if (code < 0) return fail("invalid \\u escape"), -1;
            if (code >= 0xd800 && code <= 0xdbff && peek() == '\\' && pos + 1 < in_length && in[pos + 1] == 'u') {
                size_t back = pos;
                pos += 2;
                long low = hex4();
                if (low >= 0xdc00 && low <= 0xdfff) return 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                pos = back; /* not a pair: the high surrogate stays alone */
            }
            return code;
        }
        default:
            pos--;
            return fail("invalid escape"), -1;
        }
    }
    if (c < 0x80) return c;
    /* UTF-8: the input is valid UTF-8, so the lead byte gives the length. */
    int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
    long code = c & (0x3f >> extra);
    for (int i = 0; i < extra && pos < in_length; i++) code = code << 6 | (in[pos++] & 63);
    return code;
}

/* The string at pos (on its opening quote): a key is copied as written, a value uppercased. */
static int string(int is_key) {
    size_t start = pos++;
    if (!is_key) put_char('"');
    for (;;) {
        if (pos >= in_length) return fail("unterminated string");
        if (in[pos] == '"') break;
        long c = next_code_point();
        if (c < 0) return 0;
        if (!is_key) put_code_point(c >= 0xd800 && c <= 0xdfff ? (unsigned long)c : (unsigned long)towupper((wint_t)c));
    }
    pos++;
    if (is_key) put(in + start, pos - start);
    else put_char('"');
    return 1;
}

static size_t digits(void) {
    size_t start = pos;
    while (pos < in_length && in[pos] >= '0' && in[pos] <= '9') pos++;
    return pos - start;
}

static int number(void) {
    size_t start = pos;
    if (peek() == '-') pos++;
    if (peek() == '0') pos++;
    else if (!digits()) return fail("invalid number");
    if (peek() == '.') { pos++; if (!digits()) return fail("invalid number"); }
    if (peek() == 'e' || peek() == 'E') {
        pos++;
        if (peek() == '+' || peek() == '-') pos++;
        if (!digits()) return fail("invalid number");
    }
    put(in + start, pos - start);
    return 1;
}

static int literal(const char *word) {
    size_t n = strlen(word);
    if (in_length - pos < n || memcmp(in + pos, word, n) != 0) return 0;
    put(word, n);
    pos += n;
    return 1;
}

static int value(int depth);

/* An object or an array, at its opening bracket. */
static int container(int depth, char close) {
    put_char((char)in[pos++]);
    skip_whitespace();
    if (peek() == close) { put_char(close); pos++; return 1; }
    for (;;) {
        skip_whitespace();
        if (close == '}') {
            if (peek() != '"') return fail("expected a string key");
            if (!string(1)) return 0;
            skip_whitespace();
            if (peek() != ':') return fail("expected ':'");
            put_char(':');
            pos++;
        }
        if (!value(depth + 1)) return 0;
        skip_whitespace();
        int c = peek();
        if (c != ',' && c != close) return fail(close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        put_char((char)c);
        pos++;
        if (c == close) return 1;
    }
}

static int value(int depth) {
    if (depth > MAX_DEPTH) return fail("nesting too deep");
    skip_whitespace();
    int c = peek();
    if (c == '{') return container(depth, '}');
    if (c == '[') return container(depth, ']');
    if (c == '"') return string(0);
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    if (literal("true") || literal("false") || literal("null")) return 1;
    return fail(c < 0 ? "unexpected end of input" : "unexpected character");
}

int main(void) {
    size_t capacity = 65536;
    in = malloc(capacity);
    for (size_t n; in && (n = fread(in + in_length, 1, capacity - in_length, stdin)) > 0;) {
        in_length += n;
        if (in_length == capacity) in = realloc(in, capacity *= 2);
    }
    if (!in) { fputs("uppercase: out of memory\n", stderr); return 2; }
    if (value(0)) {
        skip_whitespace();
        if (pos < in_length) fail("unexpected text after the JSON value");
    }
    if (problem) {
        fprintf(stderr, "uppercase: the input is not valid JSON: %s at byte %zu\n", problem, problem_at);
        return 1;
    }
    put_char('\n');
    fwrite(out, 1, out_length, stdout);
    return 0;
}
