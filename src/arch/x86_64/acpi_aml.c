/*
 * AML encoder for the DSDT (see acpi_aml.h). Only static data objects are
 * needed: names, integers, strings, packages, buffers, scopes and devices,
 * plus the resource descriptors of a _CRS. Packages are written with a
 * 4-byte PkgLength placeholder and compacted once their body is known, so
 * callers can nest them without computing lengths first.
 */
#include "arch/x86_64/acpi_aml.h"

#include <errno.h>
#include <string.h>

/* Opcodes (ACPI 6.x 20.3). */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR '\\'
#define AML_PARENT_PREFIX_CHAR '^'
#define AML_NULL_NAME 0x00

#define PKG_LENGTH_PLACEHOLDER 4
#define PKG_LENGTH_MAX ((1U << 28) - 1)
#define NAME_SEG_SIZE 4
#define MAX_NAME_SEGS 255

/* Resource descriptor tags (ACPI 6.x 6.4.2/6.4.3). */
#define RES_IO_PORT 0x47 /* small item 0x08, length 7 */
#define RES_END_TAG 0x79 /* small item 0x0f, length 1 */
#define RES_MEMORY32_FIXED 0x86
#define RES_DWORD_ADDRESS 0x87
#define RES_WORD_ADDRESS 0x88
#define RES_TYPE_MEMORY 0
#define RES_TYPE_IO 1
#define RES_TYPE_BUS 2
/* General flags: producer (bit 0 clear), positive decode, min and max
 * fixed (bits 2 and 3): a bridge window of fixed size and place. */
#define RES_GFLAGS_FIXED_WINDOW 0x0c
#define RES_IO_RANGE_ENTIRE 0x03   /* decodes ISA and non-ISA ranges */
#define RES_MEM_READ_WRITE 0x01    /* non-cacheable, read/write */
#define RES_IO_DECODE16 0x01

void aml_init(struct aml_buf *b, uint8_t *data, size_t cap)
{
	b->data = data;
	b->cap = cap;
	b->len = 0;
	b->err = 0;
}

int aml_finish(const struct aml_buf *b)
{
	return b->err ? b->err : (int)b->len;
}

static void fail(struct aml_buf *b, int err)
{
	if (!b->err)
		b->err = err;
}

void aml_put_bytes(struct aml_buf *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (n > b->cap - b->len) {
		fail(b, -ENOSPC);
		return;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void aml_put_u8(struct aml_buf *b, uint8_t v)
{
	aml_put_bytes(b, &v, 1);
}

void aml_put_le16(struct aml_buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	aml_put_bytes(b, x, sizeof(x));
}

void aml_put_le32(struct aml_buf *b, uint32_t v)
{
	aml_put_le16(b, (uint16_t)v);
	aml_put_le16(b, (uint16_t)(v >> 16));
}

void aml_put_le64(struct aml_buf *b, uint64_t v)
{
	aml_put_le32(b, (uint32_t)v);
	aml_put_le32(b, (uint32_t)(v >> 32));
}

int aml_pkg_length_encode(size_t body_len, uint8_t out[4])
{
	/* One byte holds 6 bits; longer forms hold 4 bits in the lead byte
	 * (whose top two bits count the following bytes) plus 8 per byte. */
	static const size_t limits[4] = { 0x3f, 0xfff, 0xfffff, PKG_LENGTH_MAX };
	for (int n = 1; n <= 4; n++) {
		if (body_len > limits[n - 1] - (size_t)n)
			continue;
		size_t v = body_len + (size_t)n;
		if (n == 1) {
			out[0] = (uint8_t)v;
			return 1;
		}
		out[0] = (uint8_t)(((n - 1) << 6) | (v & 0xf));
		for (int i = 1; i < n; i++)
			out[i] = (uint8_t)(v >> (4 + 8 * (i - 1)));
		return n;
	}
	return -E2BIG;
}

size_t aml_pkg_begin(struct aml_buf *b)
{
	size_t mark = b->len;
	static const uint8_t placeholder[PKG_LENGTH_PLACEHOLDER];
	aml_put_bytes(b, placeholder, sizeof(placeholder));
	return mark;
}

void aml_pkg_end(struct aml_buf *b, size_t mark)
{
	if (b->err)
		return;
	size_t body_start = mark + PKG_LENGTH_PLACEHOLDER;
	size_t body_len = b->len - body_start;
	uint8_t enc[4];
	int n = aml_pkg_length_encode(body_len, enc);
	if (n < 0) {
		fail(b, n);
		return;
	}
	memmove(b->data + mark + n, b->data + body_start, body_len);
	memcpy(b->data + mark, enc, (size_t)n);
	b->len -= PKG_LENGTH_PLACEHOLDER - (size_t)n;
}

static bool name_char_ok(char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || c == '_')
		return true;
	return !first && c >= '0' && c <= '9';
}

void aml_name_string(struct aml_buf *b, const char *path)
{
	const char *p = path;
	if (*p == AML_ROOT_CHAR) {
		aml_put_u8(b, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == AML_PARENT_PREFIX_CHAR) {
			aml_put_u8(b, AML_PARENT_PREFIX_CHAR);
			p++;
		}
	}
	if (*p == '\0') {
		aml_put_u8(b, AML_NULL_NAME);
		return;
	}

	/* Validate and count the segments before emitting anything. */
	size_t nsegs = 0;
	for (const char *s = p;;) {
		size_t len = strcspn(s, ".");
		if (len == 0 || len > NAME_SEG_SIZE) {
			fail(b, -EINVAL);
			return;
		}
		for (size_t i = 0; i < len; i++) {
			if (!name_char_ok(s[i], i == 0)) {
				fail(b, -EINVAL);
				return;
			}
		}
		nsegs++;
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
	if (nsegs > MAX_NAME_SEGS) {
		fail(b, -EINVAL);
		return;
	}
	if (nsegs == 2) {
		aml_put_u8(b, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		aml_put_u8(b, AML_MULTI_NAME_PREFIX);
		aml_put_u8(b, (uint8_t)nsegs);
	}
	for (const char *s = p;;) {
		size_t len = strcspn(s, ".");
		char seg[NAME_SEG_SIZE] = { '_', '_', '_', '_' };
		memcpy(seg, s, len);
		aml_put_bytes(b, seg, sizeof(seg));
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
}

void aml_integer(struct aml_buf *b, uint64_t v)
{
	if (v == 0) {
		aml_put_u8(b, AML_ZERO_OP);
	} else if (v == 1) {
		aml_put_u8(b, AML_ONE_OP);
	} else if (v <= UINT8_MAX) {
		aml_put_u8(b, AML_BYTE_PREFIX);
		aml_put_u8(b, (uint8_t)v);
	} else if (v <= UINT16_MAX) {
		aml_put_u8(b, AML_WORD_PREFIX);
		aml_put_le16(b, (uint16_t)v);
	} else if (v <= UINT32_MAX) {
		aml_put_u8(b, AML_DWORD_PREFIX);
		aml_put_le32(b, (uint32_t)v);
	} else {
		aml_put_u8(b, AML_QWORD_PREFIX);
		aml_put_le64(b, v);
	}
}

void aml_string(struct aml_buf *b, const char *s)
{
	for (const char *c = s; *c; c++) {
		if (*c < 0x20 || *c > 0x7e) {
			fail(b, -EINVAL);
			return;
		}
	}
	aml_put_u8(b, AML_STRING_PREFIX);
	aml_put_bytes(b, s, strlen(s) + 1);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool aml_eisa_id_value(const char *id, uint32_t *out)
{
	if (strlen(id) != 7)
		return false;
	uint32_t v = 0;
	/* Three letters, 5 bits each ('A' = 1), then four hex digits; the
	 * 32-bit result is stored big-endian, i.e. byte-swapped. */
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return false;
		v = (v << 5) | (uint32_t)(id[i] - '@');
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);
		if (d < 0)
			return false;
		v = (v << 4) | (uint32_t)d;
	}
	*out = __builtin_bswap32(v);
	return true;
}

void aml_eisa_id(struct aml_buf *b, const char *id)
{
	uint32_t v;
	if (!aml_eisa_id_value(id, &v)) {
		fail(b, -EINVAL);
		return;
	}
	/* iasl always emits the DWord form for EisaId(); match it. */
	aml_put_u8(b, AML_DWORD_PREFIX);
	aml_put_le32(b, v);
}

void aml_name_decl(struct aml_buf *b, const char *name)
{
	aml_put_u8(b, AML_NAME_OP);
	aml_name_string(b, name);
}

size_t aml_scope_begin(struct aml_buf *b, const char *name)
{
	aml_put_u8(b, AML_SCOPE_OP);
	size_t mark = aml_pkg_begin(b);
	aml_name_string(b, name);
	return mark;
}

size_t aml_device_begin(struct aml_buf *b, const char *name)
{
	aml_put_u8(b, AML_EXT_OP_PREFIX);
	aml_put_u8(b, AML_DEVICE_OP);
	size_t mark = aml_pkg_begin(b);
	aml_name_string(b, name);
	return mark;
}

size_t aml_package_begin(struct aml_buf *b, uint8_t n_elements)
{
	aml_put_u8(b, AML_PACKAGE_OP);
	size_t mark = aml_pkg_begin(b);
	aml_put_u8(b, n_elements);
	return mark;
}

void aml_buffer(struct aml_buf *b, const void *bytes, size_t len)
{
	aml_put_u8(b, AML_BUFFER_OP);
	size_t mark = aml_pkg_begin(b);
	aml_integer(b, len);
	aml_put_bytes(b, bytes, len);
	aml_pkg_end(b, mark);
}

static void res_word_address(struct aml_buf *b, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
	aml_put_u8(b, RES_WORD_ADDRESS);
	aml_put_le16(b, 13); /* bytes after the length field */
	aml_put_u8(b, type);
	aml_put_u8(b, RES_GFLAGS_FIXED_WINDOW);
	aml_put_u8(b, tflags);
	aml_put_le16(b, 0); /* granularity */
	aml_put_le16(b, min);
	aml_put_le16(b, max);
	aml_put_le16(b, 0); /* translation offset */
	aml_put_le16(b, (uint16_t)(max - min + 1));
}

void aml_res_word_bus_number(struct aml_buf *b, uint16_t min, uint16_t max)
{
	res_word_address(b, RES_TYPE_BUS, 0, min, max);
}

void aml_res_word_io(struct aml_buf *b, uint16_t min, uint16_t max)
{
	res_word_address(b, RES_TYPE_IO, RES_IO_RANGE_ENTIRE, min, max);
}

void aml_res_dword_memory(struct aml_buf *b, uint32_t min, uint32_t max)
{
	aml_put_u8(b, RES_DWORD_ADDRESS);
	aml_put_le16(b, 23);
	aml_put_u8(b, RES_TYPE_MEMORY);
	aml_put_u8(b, RES_GFLAGS_FIXED_WINDOW);
	aml_put_u8(b, RES_MEM_READ_WRITE);
	aml_put_le32(b, 0); /* granularity */
	aml_put_le32(b, min);
	aml_put_le32(b, max);
	aml_put_le32(b, 0); /* translation offset */
	aml_put_le32(b, max - min + 1);
}

void aml_res_io(struct aml_buf *b, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	aml_put_u8(b, RES_IO_PORT);
	aml_put_u8(b, RES_IO_DECODE16);
	aml_put_le16(b, min);
	aml_put_le16(b, max);
	aml_put_u8(b, align);
	aml_put_u8(b, len);
}

void aml_res_memory32_fixed(struct aml_buf *b, uint32_t base, uint32_t len, bool writable)
{
	aml_put_u8(b, RES_MEMORY32_FIXED);
	aml_put_le16(b, 9);
	aml_put_u8(b, writable ? 1 : 0);
	aml_put_le32(b, base);
	aml_put_le32(b, len);
}

void aml_res_end(struct aml_buf *b)
{
	/* Checksum 0: "treat the template as correctly summed". */
	aml_put_u8(b, RES_END_TAG);
	aml_put_u8(b, 0);
}
