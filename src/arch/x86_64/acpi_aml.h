/*
 * A small AML (ACPI Machine Language, ACPI 6.x chapter 20) encoder: just
 * enough to emit the DSDT's named objects, packages, devices and resource
 * templates without depending on iasl. Output goes into a caller-owned
 * buffer; the first error (out of space, invalid name) sticks in ->err and
 * turns every later call into a no-op, so callers check once at the end.
 */
#ifndef CROSVM_ARCH_X86_64_ACPI_AML_H
#define CROSVM_ARCH_X86_64_ACPI_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml_buf {
	uint8_t *data; /* borrowed, cap bytes */
	size_t cap;
	size_t len;
	int err; /* 0, -ENOSPC or -EINVAL */
};

void aml_init(struct aml_buf *b, uint8_t *data, size_t cap);
/* Returns b->len, or the first error. */
int aml_finish(const struct aml_buf *b);

/* Raw bytes and little-endian integers (for resource descriptors). */
void aml_put_bytes(struct aml_buf *b, const void *p, size_t n);
void aml_put_u8(struct aml_buf *b, uint8_t v);
void aml_put_le16(struct aml_buf *b, uint16_t v);
void aml_put_le32(struct aml_buf *b, uint32_t v);
void aml_put_le64(struct aml_buf *b, uint64_t v);

/*
 * Encodes the PkgLength of a package whose body (the bytes after the
 * PkgLength) is body_len bytes long; the encoded value counts the PkgLength
 * bytes themselves. Returns the number of bytes written to out (1..4) or
 * -E2BIG above the 28-bit limit.
 */
int aml_pkg_length_encode(size_t body_len, uint8_t out[4]);
/* Opens a PkgLength-prefixed body: returns a mark for aml_pkg_end(), which
 * encodes the length once the body is complete. Nest freely. */
size_t aml_pkg_begin(struct aml_buf *b);
void aml_pkg_end(struct aml_buf *b, size_t mark);

/* NameString: optional '\' or '^' prefixes then dot-separated segments of
 * 1..4 characters ([A-Z_] then [A-Z0-9_]), padded with '_'. */
void aml_name_string(struct aml_buf *b, const char *path);
/* Integer with the shortest encoding (ZeroOp, OneOp, Byte..QWordPrefix). */
void aml_integer(struct aml_buf *b, uint64_t v);
/* String literal (printable ASCII). */
void aml_string(struct aml_buf *b, const char *s);
/* Compressed EISA ID ("PNP0A03" -> 0x030ad041) as an integer; -EINVAL in
 * ->err for a malformed ID. */
void aml_eisa_id(struct aml_buf *b, const char *id);
/* Compresses a 7-character EISA ID; returns false if malformed. */
bool aml_eisa_id_value(const char *id, uint32_t *out);

/* Name(name, <value>): emits NameOp and the name; the caller emits the value. */
void aml_name_decl(struct aml_buf *b, const char *name);
/* Scope(name) { ... } / Device(name) { ... }: close with aml_pkg_end(). */
size_t aml_scope_begin(struct aml_buf *b, const char *name);
size_t aml_device_begin(struct aml_buf *b, const char *name);
/* Package(n) { ... }: the caller emits n elements, then aml_pkg_end(). */
size_t aml_package_begin(struct aml_buf *b, uint8_t n_elements);
/* Buffer(len) { bytes }. */
void aml_buffer(struct aml_buf *b, const void *bytes, size_t len);

/* Resource descriptors (ACPI 6.x 6.4), written raw into a buffer that is
 * then wrapped with aml_buffer() after aml_res_end(). The address-space
 * descriptors are producer windows with fixed min and max (a bridge's
 * decoded ranges). */
void aml_res_word_bus_number(struct aml_buf *b, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml_buf *b, uint16_t min, uint16_t max);
void aml_res_dword_memory(struct aml_buf *b, uint32_t min, uint32_t max);
void aml_res_io(struct aml_buf *b, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
void aml_res_memory32_fixed(struct aml_buf *b, uint32_t base, uint32_t len, bool writable);
void aml_res_end(struct aml_buf *b);

#endif
