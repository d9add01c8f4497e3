/* Unit tests for the per-vCPU CPUID adjustments, on fabricated
 * KVM_GET_SUPPORTED_CPUID tables with Intel-like and AMD-like vendors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/x86_64.h"

#define MAX_ENTRIES 32

static void set_vendor(struct kvm_cpuid_entry2 *e, const char v[12], uint32_t max_leaf)
{
	e->function = 0;
	e->eax = max_leaf;
	memcpy(&e->ebx, v, 4);
	memcpy(&e->edx, v + 4, 4);
	memcpy(&e->ecx, v + 8, 4);
}

static struct kvm_cpuid_entry2 *add(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, uint32_t eax, uint32_t ebx,
				    uint32_t ecx, uint32_t edx)
{
	assert_true(c->nent < MAX_ENTRIES);
	struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
	memset(e, 0, sizeof(*e));
	*e = (struct kvm_cpuid_entry2){ .function = fn, .index = idx, .eax = eax, .ebx = ebx, .ecx = ecx, .edx = edx };
	if (fn == 4 || fn == 0xb || fn == 0x1f || fn == 0x8000001d)
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	return e;
}

static struct kvm_cpuid2 *new_table(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	assert_non_null(c);
	return c;
}

static void add_kvm_leaves(struct kvm_cpuid2 *c, uint32_t sig_eax)
{
	struct kvm_cpuid_entry2 *e = add(c, 0x40000000, 0, sig_eax, 0, 0, 0);
	memcpy(&e->ebx, "KVMKVMKVM\0\0\0", 12);
	add(c, 0x40000001, 0, 0x01007afb, 0, 0, 0);
}

/* A host-like Intel table: host APIC ID 0x0e, 16 logical CPUs, L1/L2/L3. */
static struct kvm_cpuid2 *intel_table(void)
{
	struct kvm_cpuid2 *c = new_table();
	set_vendor(&c->entries[c->nent++], "GenuineIntel", 0x1f);
	add(c, 1, 0, 0x000906ea, 0x0e100800, 0x7ffaf203 | (1U << 15), 0x178bfbff);
	add(c, 4, 0, 0x1c004121, 0x01c0003f, 0x3f, 0);  /* L1d */
	add(c, 4, 1, 0x1c004122, 0x01c0003f, 0x3f, 0);  /* L1i */
	add(c, 4, 2, 0x1c004143, 0x00c0003f, 0x3ff, 0); /* L2 */
	add(c, 4, 3, 0x1c03c163, 0x02c0003f, 0x2fff, 6); /* L3 */
	add(c, 4, 4, 0, 0, 0, 0);                          /* terminator */
	add(c, 6, 0, 4, 0, 0, 0);
	add(c, 0xa, 0, 0x07300805, 0, 0, 0x603);
	add(c, 0xb, 0, 1, 2, 0x100, 0x0e);
	add(c, 0xb, 1, 4, 16, 0x201, 0x0e);
	add(c, 0xb, 2, 0, 0, 2, 0x0e);
	add(c, 0x1f, 0, 1, 2, 0x100, 0x0e);
	add(c, 0x1f, 1, 4, 16, 0x201, 0x0e);
	add_kvm_leaves(c, 0);
	add(c, 0x80000008, 0, 0x3027, 0, 0, 0);
	return c;
}

static struct kvm_cpuid2 *amd_table(void)
{
	struct kvm_cpuid2 *c = new_table();
	set_vendor(&c->entries[c->nent++], "AuthenticAMD", 0x10);
	add(c, 1, 0, 0x00a20f12, 0x05100800, 0x7ed8320b, 0x178bfbff);
	add(c, 0xb, 0, 1, 2, 0x100, 5);
	add(c, 0xb, 1, 7, 16, 0x201, 5);
	add_kvm_leaves(c, 0x40000001);
	add(c, 0x80000001, 0, 0x00a20f12, 0, 0x75c237ff | (1U << 23), 0x2fd3fbff);
	add(c, 0x80000008, 0, 0x3030, 0x191ef257, 0x700f | (2U << 16), 0);
	add(c, 0x8000001d, 0, 0x00004121, 0x01c0003f, 0x3f, 0);  /* L1d */
	add(c, 0x8000001d, 1, 0x00004143, 0x01c0003f, 0x3ff, 2); /* L2 */
	add(c, 0x8000001d, 2, 0x0003c163, 0x03c0003f, 0x7fff, 1); /* L3 */
	add(c, 0x8000001d, 3, 0, 0, 0, 0);
	add(c, 0x8000001e, 0, 0, 0, 0, 0);
	add(c, 0x80000022, 0, 7, 0x1234, 0, 0);
	return c;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	fail_msg("leaf %#x.%u missing", fn, idx);
	return NULL;
}

static void test_tsc_deadline(void **state)
{
	(void)state;
	struct kvm_cpuid2 *c = amd_table();
	uint32_t before = find(c, 1, 0)->ecx;
	assert_false(before & (1U << 24));
	x86_cpuid_enable_tsc_deadline(c);
	assert_int_equal(find(c, 1, 0)->ecx, before | (1U << 24));
	assert_int_equal(find(c, 0x80000001, 0)->ecx, 0x75c237ff | (1U << 23)); /* nothing else touched */
	free(c);
}

static void test_bad_args(void **state)
{
	(void)state;
	struct kvm_cpuid2 *c = intel_table();
	assert_int_equal(x86_cpuid_configure(c, 0, 0), -EINVAL);
	assert_int_equal(x86_cpuid_configure(c, 4, 4), -EINVAL);
	assert_int_equal(x86_cpuid_configure(c, 0, X86_MAX_VCPUS + 1), -EINVAL);
	assert_int_equal(x86_cpuid_configure(c, X86_MAX_VCPUS - 1, X86_MAX_VCPUS), 0);
	free(c);
}

static void test_intel(void **state)
{
	(void)state;
	struct kvm_cpuid2 *c = intel_table();
	assert_int_equal(x86_cpuid_configure(c, 2, 3), 0);

	struct kvm_cpuid_entry2 *l1 = find(c, 1, 0);
	assert_int_equal(l1->ebx >> 24, 2);           /* initial APIC ID */
	assert_int_equal((l1->ebx >> 16) & 0xff, 4);  /* 3 vCPUs -> 4 addressable IDs */
	assert_int_equal((l1->ebx >> 8) & 0xff, 8);   /* CLFLUSH 64 bytes */
	assert_int_equal(l1->ebx & 0xff, 0);          /* brand index kept */
	assert_true(l1->edx & (1U << 28));            /* HTT */
	assert_true(l1->ecx & (1U << 31));            /* hypervisor */
	assert_false(l1->ecx & (1U << 15));           /* PDCM hidden with the PMU */
	assert_int_equal(l1->eax, 0x000906ea);        /* signature untouched */

	/* Leaf 4: 4 addressable cores; L1/L2 private, L3 shared by all. */
	for (uint32_t i = 0; i < 4; i++) {
		struct kvm_cpuid_entry2 *e = find(c, 4, i);
		assert_int_equal(e->eax >> 26, 3);
		uint32_t sharing = (e->eax >> 14) & 0xfff;
		assert_int_equal(sharing, i == 3 ? 3 : 0);
		assert_int_equal(e->eax & 0x3fff, i == 3 ? 0x163 : (i == 2 ? 0x143 : (0x121 + i)));
	}
	assert_int_equal(find(c, 4, 4)->eax, 0);

	struct kvm_cpuid_entry2 *pmu = find(c, 0xa, 0);
	assert_int_equal(pmu->eax | pmu->ebx | pmu->ecx | pmu->edx, 0);
	assert_int_equal(find(c, 6, 0)->eax, 4); /* leaf 6 left as KVM reports it */

	for (uint32_t leaf = 0xb; leaf <= 0x1f; leaf += 0x1f - 0xb) {
		struct kvm_cpuid_entry2 *smt = find(c, leaf, 0), *core = find(c, leaf, 1);
		assert_int_equal(smt->eax, 0);
		assert_int_equal(smt->ebx, 1);
		assert_int_equal(smt->ecx, 0x100);
		assert_int_equal(smt->edx, 2);
		assert_int_equal(core->eax, 2);
		assert_int_equal(core->ebx, 3);
		assert_int_equal(core->ecx, 0x201);
		assert_int_equal(core->edx, 2);
	}
	struct kvm_cpuid_entry2 *inv = find(c, 0xb, 2);
	assert_int_equal(inv->eax, 0);
	assert_int_equal(inv->ebx, 0);
	assert_int_equal(inv->ecx, 2);
	assert_int_equal(inv->edx, 2);

	/* KVM signature leaf reports its highest leaf. */
	assert_int_equal(find(c, 0x40000000, 0)->eax, 0x40000001);
	assert_int_equal(find(c, 0x40000001, 0)->eax, 0x01007afb);
	/* AMD-only leaves are not touched on Intel. */
	assert_int_equal(find(c, 0x80000008, 0)->ecx, 0);
	free(c);
}

static void test_single_vcpu(void **state)
{
	(void)state;
	struct kvm_cpuid2 *c = intel_table();
	assert_int_equal(x86_cpuid_configure(c, 0, 1), 0);
	struct kvm_cpuid_entry2 *l1 = find(c, 1, 0);
	assert_int_equal(l1->ebx >> 24, 0);
	assert_int_equal((l1->ebx >> 16) & 0xff, 1);
	assert_false(l1->edx & (1U << 28));
	assert_int_equal(find(c, 4, 3)->eax >> 14, 0); /* no sharing, 1 core */
	assert_int_equal(find(c, 0xb, 1)->eax, 0);
	assert_int_equal(find(c, 0xb, 1)->ebx, 1);
	free(c);
}

static void test_many_vcpus(void **state)
{
	(void)state;
	struct kvm_cpuid2 *c = intel_table();
	assert_int_equal(x86_cpuid_configure(c, 200, 200), -EINVAL);
	assert_int_equal(x86_cpuid_configure(c, 199, 200), 0);
	struct kvm_cpuid_entry2 *l1 = find(c, 1, 0);
	assert_int_equal(l1->ebx >> 24, 199);
	assert_int_equal((l1->ebx >> 16) & 0xff, 0xff); /* 256 clamped to the field */
	assert_int_equal(find(c, 4, 0)->eax >> 26, 63); /* 6-bit field clamped */
	assert_int_equal(find(c, 0xb, 1)->eax, 8);
	assert_int_equal(find(c, 0xb, 1)->ebx, 200);
	assert_int_equal(find(c, 0xb, 0)->edx, 199);
	free(c);
}

static void test_amd(void **state)
{
	(void)state;
	struct kvm_cpuid2 *c = amd_table();
	assert_int_equal(x86_cpuid_configure(c, 5, 6), 0);

	struct kvm_cpuid_entry2 *l1 = find(c, 1, 0);
	assert_int_equal(l1->ebx >> 24, 5);
	assert_int_equal((l1->ebx >> 16) & 0xff, 8);
	assert_true(l1->edx & (1U << 28));
	assert_true(l1->ecx & (1U << 31));

	struct kvm_cpuid_entry2 *e8 = find(c, 0x80000008, 0);
	assert_int_equal(e8->ecx & 0xff, 5);          /* NC = cores - 1 */
	assert_int_equal((e8->ecx >> 12) & 0xf, 3);   /* ApicIdSize: 6 -> 3 bits */
	assert_int_equal((e8->ecx >> 16) & 0x3, 2);   /* other bits kept */
	assert_int_equal(e8->eax, 0x3030);

	assert_int_equal((find(c, 0x8000001d, 0)->eax >> 14) & 0xfff, 0);
	assert_int_equal((find(c, 0x8000001d, 1)->eax >> 14) & 0xfff, 0);
	assert_int_equal((find(c, 0x8000001d, 2)->eax >> 14) & 0xfff, 7);
	assert_int_equal(find(c, 0x8000001d, 2)->eax & 0x3fff, 0x163);
	assert_int_equal(find(c, 0x8000001d, 3)->eax, 0);

	struct kvm_cpuid_entry2 *e1e = find(c, 0x8000001e, 0);
	assert_int_equal(e1e->eax, 5);
	assert_int_equal(e1e->ebx & 0xffff, 5);
	assert_int_equal(e1e->ecx & 0x7ff, 0);

	assert_false(find(c, 0x80000001, 0)->ecx & (1U << 23));
	struct kvm_cpuid_entry2 *pm = find(c, 0x80000022, 0);
	assert_int_equal(pm->eax | pm->ebx | pm->ecx | pm->edx, 0);

	assert_int_equal(find(c, 0xb, 0)->edx, 5);
	assert_int_equal(find(c, 0xb, 1)->eax, 3);
	assert_int_equal(find(c, 0xb, 1)->ebx, 6);
	assert_int_equal(find(c, 0x40000000, 0)->eax, 0x40000001);
	free(c);
}

static void test_unknown_vendor_and_foreign_signature(void **state)
{
	(void)state;
	struct kvm_cpuid2 *c = new_table();
	set_vendor(&c->entries[c->nent++], "VirtualCPU  ", 0xd);
	add(c, 1, 0, 0x600, 0, 0, 0);
	add(c, 4, 0, 0x1c004121, 0, 0, 0);
	add(c, 0x80000008, 0, 0x3030, 0, 0x55, 0);
	struct kvm_cpuid_entry2 *sig = add(c, 0x40000000, 0, 0x40000005, 0, 0, 0);
	memcpy(&sig->ebx, "Microsoft Hv", 12);
	add(c, 0x40000001, 0, 0, 0, 0, 0);
	assert_int_equal(x86_cpuid_configure(c, 1, 2), 0);
	assert_int_equal(find(c, 1, 0)->ebx >> 24, 1);
	assert_int_equal(find(c, 4, 0)->eax, 0x1c004121);    /* vendor-specific: untouched */
	assert_int_equal(find(c, 0x80000008, 0)->ecx, 0x55); /* likewise */
	assert_int_equal(find(c, 0x40000000, 0)->eax, 0x40000005); /* not KVM's leaf */
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_tsc_deadline),
		cmocka_unit_test(test_intel),
		cmocka_unit_test(test_single_vcpu),
		cmocka_unit_test(test_many_vcpus),
		cmocka_unit_test(test_amd),
		cmocka_unit_test(test_unknown_vendor_and_foreign_signature),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
