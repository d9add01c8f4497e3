/*
 * Kernel command-line builder. Appends are all-or-nothing: each computes
 * the final length first and only then copies, so a refused piece leaves
 * the line exactly as it was. Control characters are refused outright
 * because the guest kernel treats the line as one C string of
 * space-separated words and a stray newline or tab would silently change
 * what it parses. kcmd_has_key() follows the kernel's own word splitting
 * (double quotes group, "--" ends the kernel's part) closely enough for
 * the CLI to decide whether the user already set a parameter.
 */
#include "kernel_cmdline/kernel_cmdline.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/layout.h"

_Static_assert(KCMD_MAX_CAP == X86_CMDLINE_MAX, "builder capacity must match the zero-page command line area");

void kcmd_init(struct kernel_cmdline *c, size_t cap)
{
	if (cap < 1)
		cap = 1;
	if (cap > KCMD_MAX_CAP)
		cap = KCMD_MAX_CAP;
	c->cap = cap;
	c->len = 0;
	c->buf[0] = '\0';
}

static bool is_ctrl(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f;
}

static bool has_ctrl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (is_ctrl((unsigned char)s[i]))
			return true;
	return false;
}

/* Room for `add` more characters (plus a separator when the line is not
 * empty) with the NUL still fitting in cap. */
static bool fits(const struct kernel_cmdline *c, size_t add)
{
	size_t sep = c->len ? 1 : 0;
	/* len < cap always holds, so cap - len - 1 cannot wrap. */
	size_t room = c->cap - c->len - 1;
	return sep <= room && add <= room - sep;
}

/* Starts a new word: writes the separator if needed. Caller checked fits(). */
static void begin_word(struct kernel_cmdline *c)
{
	if (c->len)
		c->buf[c->len++] = ' ';
}

static void put(struct kernel_cmdline *c, const char *s, size_t n)
{
	memcpy(c->buf + c->len, s, n);
	c->len += n;
}

int kcmd_append(struct kernel_cmdline *c, const char *s)
{
	if (!s)
		return -EINVAL;
	size_t n = strlen(s);
	if (has_ctrl(s, n))
		return -EINVAL;
	while (n && *s == ' ') {
		s++;
		n--;
	}
	while (n && s[n - 1] == ' ')
		n--;
	if (n == 0)
		return -EINVAL;
	if (!fits(c, n))
		return -E2BIG;
	begin_word(c);
	put(c, s, n);
	c->buf[c->len] = '\0';
	return 0;
}

int kcmd_append_kv(struct kernel_cmdline *c, const char *key, const char *value)
{
	if (!key || !value)
		return -EINVAL;
	size_t kn = strlen(key), vn = strlen(value);
	if (kn == 0 || has_ctrl(key, kn) || has_ctrl(value, vn))
		return -EINVAL;
	if (strpbrk(key, " =\"") || strchr(value, '"'))
		return -EINVAL;
	bool quote = strchr(value, ' ') != NULL;
	/* key '=' ['"'] value ['"']: kn, vn <= strlen of strings that exist in
	 * memory, so these sums cannot overflow size_t in practice; fits()
	 * compares against at most 4095 anyway. */
	size_t need = kn + 1 + vn + (quote ? 2 : 0);
	if (need < kn || !fits(c, need))
		return -E2BIG;
	begin_word(c);
	put(c, key, kn);
	put(c, "=", 1);
	if (quote)
		put(c, "\"", 1);
	put(c, value, vn);
	if (quote)
		put(c, "\"", 1);
	c->buf[c->len] = '\0';
	return 0;
}

/* Parameter names compare with '-' and '_' treated as the same character,
 * as the kernel's own parameter matching does. */
static bool name_eq(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++) {
		char x = a[i] == '-' ? '_' : a[i];
		char y = b[i] == '-' ? '_' : b[i];
		if (x != y)
			return false;
	}
	return true;
}

bool kcmd_has_key(const struct kernel_cmdline *c, const char *key)
{
	if (!key || !*key)
		return false;
	size_t kn = strlen(key);
	const char *p = c->buf, *end = c->buf + c->len;
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			break;
		const char *word = p;
		bool in_quote = false;
		while (p < end && (in_quote || *p != ' ')) {
			if (*p == '"')
				in_quote = !in_quote;
			p++;
		}
		size_t wn = (size_t)(p - word);
		if (wn == 2 && word[0] == '-' && word[1] == '-')
			return false; /* the rest belongs to init */
		const char *name = word;
		if (*name == '"') {
			name++;
			wn--;
		}
		const char *eq = memchr(name, '=', wn);
		size_t nn = eq ? (size_t)(eq - name) : wn;
		if (!eq && nn && name[nn - 1] == '"')
			nn--; /* a wholly quoted bare word: "name" */
		if (name_eq(name, nn, key, kn))
			return true;
	}
	return false;
}

const char *kcmd_str(const struct kernel_cmdline *c)
{
	return c->buf;
}

size_t kcmd_len_with_nul(const struct kernel_cmdline *c)
{
	return c->len + 1;
}
