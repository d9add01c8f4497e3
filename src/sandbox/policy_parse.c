/*
 * The seccomp policy parser: minijail-format text to a list of rules, one
 * per syscall, with no side effects beyond memory and the file source. It
 * is the part of the sandbox that reads a file (policy dirs can be given on
 * the command line), so it is bounded everywhere (line length, file size,
 * rule and clause counts, include depth) and is what the fuzz target
 * drives. policy.c turns the result into a libseccomp filter.
 */
#include "sandbox/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/epoll.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/fd.h"
#include "base/parse.h"

/*
 * The named constants policies may use. One table, kept to what crosvm's
 * device policies need; values are the x86_64 kernel ABI (which glibc's
 * headers match for these).
 */
struct named_value {
	const char *name;
	uint64_t value;
};

#define NV(x) { #x, (uint64_t)(x) }
static const struct named_value constants[] = {
	NV(O_RDONLY), NV(O_WRONLY), NV(O_RDWR), NV(O_CREAT), NV(O_EXCL), NV(O_NOCTTY),
	NV(O_TRUNC), NV(O_APPEND), NV(O_NONBLOCK), NV(O_DSYNC), NV(O_DIRECT), NV(O_DIRECTORY),
	NV(O_NOFOLLOW), NV(O_CLOEXEC), NV(O_PATH), NV(O_TMPFILE), {"O_LARGEFILE", 0100000},
	NV(F_DUPFD), NV(F_GETFD), NV(F_SETFD), NV(F_GETFL), NV(F_SETFL), NV(F_DUPFD_CLOEXEC),
	NV(F_ADD_SEALS), NV(F_GET_SEALS), NV(FD_CLOEXEC),
	NV(PROT_NONE), NV(PROT_READ), NV(PROT_WRITE), NV(PROT_EXEC),
	NV(MAP_SHARED), NV(MAP_PRIVATE), NV(MAP_FIXED), NV(MAP_ANONYMOUS), NV(MAP_NORESERVE),
	NV(MAP_POPULATE), NV(MAP_STACK), NV(MAP_GROWSDOWN), NV(MAP_FIXED_NOREPLACE),
	NV(MADV_DONTNEED), NV(MADV_DONTDUMP), NV(MADV_REMOVE), NV(MADV_WILLNEED), NV(MADV_NOHUGEPAGE),
	NV(AF_UNIX), NV(AF_INET), NV(AF_INET6), NV(AF_NETLINK), NV(AF_VSOCK),
	NV(SOCK_STREAM), NV(SOCK_DGRAM), NV(SOCK_SEQPACKET), NV(SOCK_NONBLOCK), NV(SOCK_CLOEXEC),
	NV(FIONBIO), NV(FIOCLEX), NV(FIONCLEX), NV(FIONREAD),
	NV(TUNSETIFF), NV(TUNGETIFF), NV(TUNSETOFFLOAD), NV(TUNSETVNETHDRSZ), NV(TUNSETQUEUE),
	NV(TUNGETVNETHDRSZ), NV(BLKDISCARD), NV(BLKGETSIZE64),
	NV(FALLOC_FL_KEEP_SIZE), NV(FALLOC_FL_PUNCH_HOLE), NV(FALLOC_FL_ZERO_RANGE),
	NV(EFD_CLOEXEC), NV(EFD_NONBLOCK), NV(EFD_SEMAPHORE), NV(EPOLL_CLOEXEC),
	NV(MFD_CLOEXEC), NV(MFD_ALLOW_SEALING),
	NV(FUTEX_WAIT), NV(FUTEX_WAKE), NV(FUTEX_WAIT_BITSET), NV(FUTEX_WAKE_BITSET),
	NV(FUTEX_PRIVATE_FLAG), NV(FUTEX_CLOCK_REALTIME),
	NV(PR_SET_NAME), NV(PR_GET_NAME),
	NV(CLONE_VM), NV(CLONE_FS), NV(CLONE_FILES), NV(CLONE_SIGHAND), NV(CLONE_THREAD),
	NV(CLONE_SYSVSEM), NV(CLONE_SETTLS), NV(CLONE_PARENT_SETTID), NV(CLONE_CHILD_CLEARTID),
};

/* errno names accepted after `return`. */
static const struct named_value errnos[] = {
	NV(EPERM),  NV(ENOENT), NV(ESRCH),  NV(EINTR),  NV(EIO),	 NV(ENXIO),  NV(E2BIG),
	NV(EBADF),  NV(EAGAIN), NV(ENOMEM), NV(EACCES), NV(EFAULT),	 NV(EBUSY),  NV(EEXIST),
	NV(ENODEV), NV(ENOTDIR), NV(EISDIR), NV(EINVAL), NV(EMFILE), NV(ENOTTY), NV(ENOSPC),
	NV(EROFS),  NV(EPIPE),  NV(ENOSYS), NV(EOPNOTSUPP), NV(EAFNOSUPPORT),
};
#undef NV

static bool lookup(const struct named_value *t, size_t n, const char *name, uint64_t *v)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].name, name) == 0) {
			*v = t[i].value;
			return true;
		}
	}
	return false;
}

bool sandbox_policy_constant(const char *name, uint64_t *v)
{
	return lookup(constants, sizeof(constants) / sizeof(constants[0]), name, v);
}

/* ---- Parser state ---- */

struct parser {
	const struct sandbox_policy_source *src; /* borrowed; NULL: no @include */
	struct sandbox_policy *pol;
	const char *stack[SANDBOX_POLICY_MAX_DEPTH + 1]; /* files being read, outermost first */
	size_t depth;
	char *err;
	size_t errlen;
	/* current location */
	const char *file;
	unsigned line;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...)
{
	if (p->err && p->errlen) {
		int n = snprintf(p->err, p->errlen, "%s:%u: ", p->file, p->line);
		if (n >= 0 && (size_t)n < p->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

/* ---- Lexer over one NUL-terminated line ---- */

enum tok {
	T_END, T_IDENT, T_NUM, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE,
	T_AMP, T_ANDAND, T_PIPE, T_OROR, T_TILDE, T_COLON, T_SEMI, T_LPAREN, T_RPAREN,
};

struct lex {
	struct parser *p;
	const char *s;
	enum tok tok;
	char text[SANDBOX_POLICY_MAX_NAME];
	uint64_t num;
};

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Reads the next token into l; returns 0 or -EINVAL. */
static int next(struct lex *l)
{
	while (is_space(*l->s))
		l->s++;
	const char *s = l->s;
	char c = *s;
	if (c == '\0') {
		l->tok = T_END;
		return 0;
	}
	if (is_ident_start(c) || (c >= '0' && c <= '9')) {
		size_t n = 0;
		while (is_ident(s[n]))
			n++;
		if (n >= sizeof(l->text))
			return fail(l->p, "name too long: '%.*s...'", 16, s);
		memcpy(l->text, s, n);
		l->text[n] = '\0';
		l->s = s + n;
		if (is_ident_start(c)) {
			l->tok = T_IDENT;
			return 0;
		}
		if (parse_u64(l->text, &l->num) != 0)
			return fail(l->p, "bad number '%s'", l->text);
		l->tok = T_NUM;
		return 0;
	}
	static const struct {
		const char *str;
		enum tok tok;
	} ops[] = {
		{ "==", T_EQ }, { "!=", T_NE }, { "<=", T_LE }, { ">=", T_GE }, { "&&", T_ANDAND },
		{ "||", T_OROR }, { "<", T_LT }, { ">", T_GT }, { "&", T_AMP }, { "|", T_PIPE },
		{ "~", T_TILDE }, { ":", T_COLON }, { ";", T_SEMI }, { "(", T_LPAREN }, { ")", T_RPAREN },
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].str);
		if (strncmp(s, ops[i].str, n) == 0) {
			memcpy(l->text, s, n);
			l->text[n] = '\0';
			l->s = s + n;
			l->tok = ops[i].tok;
			return 0;
		}
	}
	if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
		return fail(l->p, "unexpected byte 0x%02x", (unsigned char)c);
	return fail(l->p, "unexpected character '%c'", c);
}

static const char *tok_text(const struct lex *l)
{
	return l->tok == T_END ? "end of line" : l->text;
}

/* value := term ('|' term)* ; term := '~' term | NUM | CONSTANT | '(' value ')' */
static int parse_value(struct lex *l, uint64_t *out, unsigned nest);

static int parse_term(struct lex *l, uint64_t *out, unsigned nest)
{
	int r;
	if (nest > 16)
		return fail(l->p, "expression nested too deeply");
	switch (l->tok) {
	case T_TILDE:
		if ((r = next(l)) < 0 || (r = parse_term(l, out, nest + 1)) < 0)
			return r;
		*out = ~*out;
		return 0;
	case T_NUM:
		*out = l->num;
		return next(l);
	case T_IDENT:
		if (!sandbox_policy_constant(l->text, out))
			return fail(l->p, "unknown constant '%s'", l->text);
		return next(l);
	case T_LPAREN:
		if ((r = next(l)) < 0 || (r = parse_value(l, out, nest + 1)) < 0)
			return r;
		if (l->tok != T_RPAREN)
			return fail(l->p, "expected ')', got '%s'", tok_text(l));
		return next(l);
	default:
		return fail(l->p, "expected a number or constant, got '%s'", tok_text(l));
	}
}

static int parse_value(struct lex *l, uint64_t *out, unsigned nest)
{
	int r = parse_term(l, out, nest);
	while (r == 0 && l->tok == T_PIPE) {
		uint64_t v;
		if ((r = next(l)) < 0 || (r = parse_term(l, &v, nest)) < 0)
			return r;
		*out |= v;
	}
	return r;
}

/* cmp := 'argN' OP value */
static int parse_cmp(struct lex *l, struct sandbox_clause *c)
{
	int r;
	if (l->tok != T_IDENT || strncmp(l->text, "arg", 3) != 0 || l->text[3] < '0' ||
	    l->text[3] > '5' || l->text[4] != '\0')
		return fail(l->p, "expected arg0..arg5, got '%s'", tok_text(l));
	uint8_t arg = (uint8_t)(l->text[3] - '0');
	for (unsigned i = 0; i < c->ncmp; i++) {
		if (c->cmp[i].arg == arg)
			return fail(l->p, "arg%u compared twice in one && group", arg);
	}
	if ((r = next(l)) < 0)
		return r;
	enum sandbox_cmp_op op;
	switch (l->tok) {
	case T_EQ: op = SANDBOX_CMP_EQ; break;
	case T_NE: op = SANDBOX_CMP_NE; break;
	case T_LT: op = SANDBOX_CMP_LT; break;
	case T_LE: op = SANDBOX_CMP_LE; break;
	case T_GT: op = SANDBOX_CMP_GT; break;
	case T_GE: op = SANDBOX_CMP_GE; break;
	case T_AMP: op = SANDBOX_CMP_MASK_ANY; break;
	case T_IDENT:
		if (strcmp(l->text, "in") == 0) {
			op = SANDBOX_CMP_MASK_IN;
			break;
		}
		return fail(l->p, "expected a comparison (== != < <= > >= & in) after arg%u, got '%s'", arg,
			    tok_text(l));
	default:
		return fail(l->p, "expected a comparison (== != < <= > >= & in) after arg%u, got '%s'", arg,
			    tok_text(l));
	}
	uint64_t v;
	if ((r = next(l)) < 0 || (r = parse_value(l, &v, 0)) < 0)
		return r;
	c->cmp[c->ncmp++] = (struct sandbox_cmp){ .arg = arg, .op = (uint8_t)op, .value = v };
	return 0;
}

/* cond := group ('||' group)* ; group := cmp ('&&' cmp)* */
static int parse_cond(struct lex *l, struct sandbox_clause *out, uint32_t *n)
{
	int r;
	*n = 0;
	for (;;) {
		if (*n == SANDBOX_POLICY_MAX_CLAUSES)
			return fail(l->p, "more than %d || terms", SANDBOX_POLICY_MAX_CLAUSES);
		struct sandbox_clause *c = &out[(*n)++];
		memset(c, 0, sizeof(*c));
		if ((r = parse_cmp(l, c)) < 0)
			return r;
		while (l->tok == T_ANDAND) {
			if ((r = next(l)) < 0 || (r = parse_cmp(l, c)) < 0)
				return r;
		}
		if (l->tok != T_OROR)
			return 0;
		if ((r = next(l)) < 0)
			return r;
	}
}

static struct sandbox_rule *find_rule(struct sandbox_policy *pol, const char *name)
{
	for (size_t i = 0; i < pol->nrules; i++) {
		if (strcmp(pol->rules[i].syscall, name) == 0)
			return &pol->rules[i];
	}
	return NULL;
}

/* Adds (or merges) a rule; takes `clauses` (n of them) by copy. */
static int add_rule(struct parser *p, const char *name, enum sandbox_rule_action act, int errno_val,
		    const struct sandbox_clause *clauses, uint32_t n)
{
	struct sandbox_policy *pol = p->pol;
	struct sandbox_rule *r = find_rule(pol, name);
	if (r) {
		if (r->action != act || r->errno_val != errno_val)
			return fail(p, "'%s' conflicts with the rule at %s:%u", name, r->file, r->line);
		if (act != SANDBOX_RULE_ALLOW || r->nclauses == 0)
			return 0; /* same errno, or already allowed unconditionally */
		if (n == 0) {
			free(r->clauses);
			r->clauses = NULL;
			r->nclauses = 0;
			return 0;
		}
		if (r->nclauses + n > SANDBOX_POLICY_MAX_CLAUSES)
			return fail(p, "'%s' has more than %d || terms in all", name,
				    SANDBOX_POLICY_MAX_CLAUSES);
		struct sandbox_clause *c = realloc(r->clauses, (r->nclauses + n) * sizeof(*c));
		if (!c)
			return -ENOMEM;
		memcpy(c + r->nclauses, clauses, n * sizeof(*c));
		r->clauses = c;
		r->nclauses += n;
		return 0;
	}
	if (pol->nrules == SANDBOX_POLICY_MAX_RULES)
		return fail(p, "more than %d syscalls", SANDBOX_POLICY_MAX_RULES);
	if (pol->nrules == pol->rules_cap) {
		size_t cap = pol->rules_cap ? pol->rules_cap * 2 : 32;
		struct sandbox_rule *nr = realloc(pol->rules, cap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		pol->rules = nr;
		pol->rules_cap = cap;
	}
	r = &pol->rules[pol->nrules];
	memset(r, 0, sizeof(*r));
	snprintf(r->syscall, sizeof(r->syscall), "%s", name);
	r->action = act;
	r->errno_val = errno_val;
	r->file = p->file;
	r->line = p->line;
	if (n) {
		r->clauses = malloc(n * sizeof(*r->clauses));
		if (!r->clauses)
			return -ENOMEM;
		memcpy(r->clauses, clauses, n * sizeof(*r->clauses));
		r->nclauses = n;
	}
	pol->nrules++;
	return 0;
}

static int parse_file(struct parser *p, const char *name, const char *text, size_t len);

static int do_include(struct parser *p, const char *name)
{
	for (size_t i = 0; i < p->depth; i++) {
		if (strcmp(p->stack[i], name) == 0) {
			char chain[256] = "";
			size_t off = 0;
			for (size_t j = i; j < p->depth && off < sizeof(chain); j++) {
				int n = snprintf(chain + off, sizeof(chain) - off, "%s -> ", p->stack[j]);
				if (n < 0)
					break;
				off += (size_t)n;
			}
			return fail(p, "include cycle: %s%s", chain, name);
		}
	}
	for (size_t i = 0; i < p->pol->nfiles; i++) {
		if (strcmp(p->pol->files[i], name) == 0)
			return 0; /* already read: include once */
	}
	if (p->depth >= SANDBOX_POLICY_MAX_DEPTH)
		return fail(p, "@include nested deeper than %d", SANDBOX_POLICY_MAX_DEPTH);
	if (!p->src)
		return fail(p, "@include %s: includes are not available here", name);
	char *text = NULL;
	size_t len = 0;
	int r = p->src->read(p->src->ctx, name, &text, &len);
	if (r == -ENOENT)
		return fail(p, "missing include '%s'", name);
	if (r < 0)
		return fail(p, "cannot read include '%s': %s", name, strerror(-r));
	const char *file = p->file;
	unsigned line = p->line;
	r = parse_file(p, name, text, len);
	free(text);
	p->file = file;
	p->line = line;
	return r;
}

/* One line, NUL-terminated and stripped of its comment. */
static int parse_line(struct parser *p, char *s)
{
	while (is_space(*s))
		s++;
	size_t n = strlen(s);
	while (n && is_space(s[n - 1]))
		s[--n] = '\0';
	if (n == 0)
		return 0;
	if (s[0] == '@') {
		if (strncmp(s, "@include", 8) == 0 && is_space(s[8])) {
			char *name = s + 9;
			while (is_space(*name))
				name++;
			for (char *q = name; *q; q++) {
				if (is_space(*q) || (unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
					return fail(p, "bad @include file name");
			}
			return do_include(p, name);
		}
		if (strcmp(s, "@include") == 0)
			return fail(p, "@include needs a file name");
		size_t w = strcspn(s, " \t");
		return fail(p, "unknown directive '%.*s'", (int)(w > 32 ? 32 : w), s);
	}

	struct lex l = { .p = p, .s = s };
	int r;
	if ((r = next(&l)) < 0)
		return r;
	if (l.tok != T_IDENT)
		return fail(p, "expected a syscall name, got '%s'", tok_text(&l));
	char name[SANDBOX_POLICY_MAX_NAME];
	memcpy(name, l.text, sizeof(name));
	if ((r = next(&l)) < 0)
		return r;
	if (l.tok != T_COLON)
		return fail(p, "expected ':' after '%s'", name);
	if ((r = next(&l)) < 0)
		return r;
	if (l.tok == T_END)
		return fail(p, "'%s' has no action (1, return ERRNO or a condition)", name);

	if (l.tok == T_NUM) {
		if (l.num != 1)
			return fail(p, "'%s: %s': the only bare number allowed is 1", name, l.text);
		if ((r = next(&l)) < 0)
			return r;
		if (l.tok != T_END)
			return fail(p, "unexpected '%s' after '1'", tok_text(&l));
		return add_rule(p, name, SANDBOX_RULE_ALLOW, 0, NULL, 0);
	}
	if (l.tok == T_IDENT && strcmp(l.text, "return") == 0) {
		if ((r = next(&l)) < 0)
			return r;
		uint64_t e;
		if (l.tok == T_NUM) {
			e = l.num;
		} else if (l.tok == T_IDENT) {
			if (!lookup(errnos, sizeof(errnos) / sizeof(errnos[0]), l.text, &e))
				return fail(p, "unknown errno '%s'", l.text);
		} else {
			return fail(p, "expected an errno after 'return', got '%s'", tok_text(&l));
		}
		if (e > 4095)
			return fail(p, "errno %llu out of range (0..4095)", (unsigned long long)e);
		if ((r = next(&l)) < 0)
			return r;
		if (l.tok != T_END)
			return fail(p, "unexpected '%s' after the errno", tok_text(&l));
		return add_rule(p, name, SANDBOX_RULE_ERRNO, (int)e, NULL, 0);
	}

	/* 64 clauses * 6 comparisons: about 6 KiB, heap rather than stack. */
	struct sandbox_clause *cl = malloc(SANDBOX_POLICY_MAX_CLAUSES * sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	uint32_t ncl = 0;
	r = parse_cond(&l, cl, &ncl);
	if (r == 0 && l.tok == T_SEMI)
		r = fail(p, "'; return' after a condition is not supported");
	else if (r == 0 && l.tok != T_END)
		r = fail(p, "expected '||', '&&' or end of line, got '%s'", tok_text(&l));
	if (r == 0)
		r = add_rule(p, name, SANDBOX_RULE_ALLOW, 0, cl, ncl);
	free(cl);
	return r;
}

static int parse_file(struct parser *p, const char *name, const char *text, size_t len)
{
	struct sandbox_policy *pol = p->pol;
	if (pol->nfiles == SANDBOX_POLICY_MAX_FILES)
		return fail(p, "more than %d policy files", SANDBOX_POLICY_MAX_FILES);
	char **files = realloc(pol->files, (pol->nfiles + 1) * sizeof(*files));
	if (!files)
		return -ENOMEM;
	pol->files = files;
	char *fname = strdup(name);
	if (!fname)
		return -ENOMEM;
	pol->files[pol->nfiles++] = fname;

	p->stack[p->depth++] = fname;
	p->file = fname;
	p->line = 0;
	int r = 0;
	if (len > SANDBOX_POLICY_MAX_FILE) {
		r = fail(p, "file larger than %u bytes", SANDBOX_POLICY_MAX_FILE);
		goto out;
	}
	char buf[SANDBOX_POLICY_MAX_LINE + 1];
	size_t pos = 0;
	while (pos < len) {
		p->file = fname;
		p->line++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		if (n > SANDBOX_POLICY_MAX_LINE) {
			r = fail(p, "line longer than %d bytes", SANDBOX_POLICY_MAX_LINE);
			goto out;
		}
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		pos += n + (nl ? 1 : 0);
		if (memchr(buf, '\0', n)) {
			r = fail(p, "NUL byte in line");
			goto out;
		}
		char *hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		if ((r = parse_line(p, buf)) < 0)
			goto out;
	}
out:
	p->depth--;
	return r;
}

static int parse_common(const char *name, const char *text, size_t len,
			const struct sandbox_policy_source *src, struct sandbox_policy *out, char *err,
			size_t errlen)
{
	struct parser p = { .src = src, .pol = out, .err = err, .errlen = errlen, .file = name };
	return parse_file(&p, name, text, len);
}

int sandbox_policy_parse_text(const char *name, const char *text, size_t len,
			      const struct sandbox_policy_source *src, struct sandbox_policy *out,
			      char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	return parse_common(name, text, len, src, out, err, errlen);
}

int sandbox_policy_parse(const char *name, const struct sandbox_policy_source *src,
			 struct sandbox_policy *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	char *text = NULL;
	size_t len = 0;
	int r = src->read(src->ctx, name, &text, &len);
	if (r < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", name, strerror(-r));
		return r;
	}
	r = parse_common(name, text, len, src, out, err, errlen);
	free(text);
	return r;
}

void sandbox_policy_free(struct sandbox_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nrules; i++)
		free(p->rules[i].clauses);
	free(p->rules);
	for (size_t i = 0; i < p->nfiles; i++)
		free(p->files[i]);
	free(p->files);
	memset(p, 0, sizeof(*p));
}

/* ---- The filesystem source ---- */

static int dir_read(void *ctx, const char *name, char **text, size_t *len)
{
	const char *dir = ctx;
	char path[4096];
	int n = name[0] == '/' ? snprintf(path, sizeof(path), "%s", name)
			       : snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	int fd SCOPED_FD = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size > (off_t)SANDBOX_POLICY_MAX_FILE)
		return -EFBIG;
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	ssize_t got = 0;
	while ((size_t)got < (size_t)st.st_size + 1) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size + 1 - (size_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = -errno;
			free(buf);
			return e;
		}
		if (k == 0)
			break;
		got += k;
	}
	if ((size_t)got > (size_t)st.st_size) {
		free(buf); /* grew while we read it */
		return -EFBIG;
	}
	*text = buf;
	*len = (size_t)got;
	return 0;
}

struct sandbox_policy_source sandbox_policy_dir_source(const char *dir)
{
	/* SAFETY: dir_read only reads through ctx; the cast drops const for the
	 * generic void * context. */
	return (struct sandbox_policy_source){ .read = dir_read, .ctx = (void *)dir };
}
