/* Strict text-to-number parsing shared by the CLI and config parsers. */
#include "base/parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		if (!isxdigit((unsigned char)s[2]))
			return -EINVAL;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_u64_range(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int r = parse_u64(s, &v);
	if (r < 0)
		return r;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* One decimal CPU number at *p, advancing p; digits only. */
static int cpu_number(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	*p = s;
	*out = v;
	return 0;
}

int parse_cpu_set(const char *s, unsigned limit, uint64_t *bits, unsigned nwords)
{
	if (!s || !*s)
		return -EINVAL;
	uint64_t max = (uint64_t)nwords * 64;
	if (limit < max)
		max = limit;
	for (;;) {
		uint64_t lo, hi;
		int r = cpu_number(&s, &lo);
		if (r < 0)
			return r;
		hi = lo;
		if (*s == '-') {
			s++;
			if ((r = cpu_number(&s, &hi)) < 0)
				return r;
			if (hi < lo)
				return -EINVAL;
		}
		if (*s != ',' && *s != '\0')
			return -EINVAL;
		if (hi >= max)
			return -ERANGE;
		for (uint64_t n = lo; n <= hi; n++)
			bits[n / 64] |= 1ULL << (n % 64);
		if (*s == '\0')
			return 0;
		s++;
	}
}

int parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	size_t n = strlen(s);
	unsigned shift = 0;
	switch (s[n - 1]) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default: break;
	}
	char tmp[64];
	if (n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, n + 1);
	if (shift)
		tmp[n - 1] = '\0';
	uint64_t v;
	int r = parse_u64(tmp, &v);
	if (r < 0)
		return r;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "", "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	return -EINVAL;
}

void kv_init(struct kv_iter *it, char *buf) { it->p = buf; }

int kv_next(struct kv_iter *it, char **key, char **value)
{
	if (!it->p || !*it->p)
		return 0;
	char *start = it->p;
	char *comma = strchr(start, ',');
	if (comma) {
		*comma = '\0';
		it->p = comma + 1;
	} else {
		it->p = NULL;
	}
	char *eq = strchr(start, '=');
	if (eq) {
		*eq = '\0';
		*value = eq + 1;
	} else {
		*value = start + strlen(start);
	}
	*key = start;
	return 1;
}
