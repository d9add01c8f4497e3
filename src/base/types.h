/*
 * Strong scalar types shared by every subsystem.
 *
 * gpa_t wraps a guest physical address so it cannot be mixed up with a host
 * pointer, a length or an offset by accident; le16_t/le32_t/le64_t wrap
 * little-endian fields of guest-visible structures so every access goes
 * through an explicit conversion. All are single-member structs: same size
 * and layout as the raw integer, so they can appear in packed structures.
 */
#ifndef CROSVM_BASE_TYPES_H
#define CROSVM_BASE_TYPES_H

#include <endian.h>
#include <stdint.h>

typedef struct { uint64_t raw; } gpa_t;
typedef struct { uint16_t raw; } le16_t;
typedef struct { uint32_t raw; } le32_t;
typedef struct { uint64_t raw; } le64_t;

#define GPA(x) ((gpa_t){ .raw = (uint64_t)(x) })

static inline uint64_t gpa_val(gpa_t g) { return g.raw; }
static inline gpa_t gpa_add(gpa_t g, uint64_t off) { return GPA(g.raw + off); }

static inline uint16_t le16_get(le16_t v) { return le16toh(v.raw); }
static inline uint32_t le32_get(le32_t v) { return le32toh(v.raw); }
static inline uint64_t le64_get(le64_t v) { return le64toh(v.raw); }
static inline le16_t le16_make(uint16_t v) { return (le16_t){ htole16(v) }; }
static inline le32_t le32_make(uint32_t v) { return (le32_t){ htole32(v) }; }
static inline le64_t le64_make(uint64_t v) { return (le64_t){ htole64(v) }; }

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MUST_USE __attribute__((warn_unused_result))

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)

#endif
