/*
 * CPUID for each vCPU. KVM_GET_SUPPORTED_CPUID describes what KVM can
 * virtualise but carries the host's topology and APIC IDs; the guest must
 * instead see its own: one socket whose cores are the vCPUs, one thread
 * per core, APIC ID = x2APIC ID = vCPU index (matching the MP table and
 * the MADT). The table is adjusted in place, entry by entry; nothing is
 * added, so leaves KVM did not report stay absent.
 */
#include "arch/x86_64/x86_64.h"

#include <errno.h>
#include <string.h>

enum cpu_vendor { VENDOR_OTHER, VENDOR_INTEL, VENDOR_AMD };

/* Leaf 1 */
#define L1_EBX_CLFLUSH_SHIFT 8
#define L1_EBX_LOGICAL_SHIFT 16
#define L1_EBX_APIC_ID_SHIFT 24
#define L1_ECX_PDCM (1U << 15)
#define L1_ECX_HYPERVISOR (1U << 31)
#define L1_EDX_HTT (1U << 28)
#define CLFLUSH_LINE_QWORDS 8U /* 64-byte lines, in 8-byte units */

/* Leaves 4 and 0x8000001D: deterministic cache parameters. */
#define CACHE_EAX_TYPE_MASK 0x1fU
#define CACHE_EAX_LEVEL(eax) (((eax) >> 5) & 7U)
#define CACHE_EAX_SHARING_SHIFT 14
#define CACHE_EAX_SHARING_MASK (0xfffU << 14)
#define CACHE_EAX_CORES_SHIFT 26
#define CACHE_EAX_CORES_MASK (0x3fU << 26)

/* Leaves 0xB and 0x1F: extended topology. */
#define TOPO_LEVEL_SMT 1U
#define TOPO_LEVEL_CORE 2U

/* AMD */
#define AMD_80000001_ECX_PERFCTR_CORE (1U << 23)
#define AMD_80000008_ECX_NC_MASK 0xffU
#define AMD_80000008_ECX_APIC_ID_SIZE_SHIFT 12
#define AMD_80000008_ECX_APIC_ID_SIZE_MASK (0xfU << 12)

#define KVM_CPUID_SIGNATURE_LEAF 0x40000000U
#define KVM_CPUID_LAST_LEAF 0x400000ffU

struct topo {
	uint32_t vcpu_id, nr_vcpus;
	uint32_t order; /* APIC ID bits that number the cores: ceil(log2(nr_vcpus)) */
	uint32_t span;  /* 1 << order: addressable core IDs in the package */
};

static uint32_t ceil_log2(uint32_t n)
{
	uint32_t order = 0;
	while ((1U << order) < n)
		order++;
	return order;
}

static void regs_to_vendor(const struct kvm_cpuid_entry2 *e, char out[12])
{
	memcpy(out, &e->ebx, 4);
	memcpy(out + 4, &e->edx, 4);
	memcpy(out + 8, &e->ecx, 4);
}

static enum cpu_vendor find_vendor(const struct kvm_cpuid2 *cpuid)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		if (cpuid->entries[i].function != 0)
			continue;
		char v[12];
		regs_to_vendor(&cpuid->entries[i], v);
		if (!memcmp(v, "GenuineIntel", 12))
			return VENDOR_INTEL;
		/* Hygon parts are AMD Zen and use AMD's topology leaves. */
		if (!memcmp(v, "AuthenticAMD", 12) || !memcmp(v, "HygonGenuine", 12))
			return VENDOR_AMD;
		return VENDOR_OTHER;
	}
	return VENDOR_OTHER;
}

static void leaf_1(struct kvm_cpuid_entry2 *e, const struct topo *t)
{
	/* "Maximum addressable logical processor IDs in the package", an
	 * 8-bit field: a power of two covering all vCPUs, clamped. */
	uint32_t logical = t->span > 0xff ? 0xff : t->span;
	e->ebx = (e->ebx & 0xffU) | (CLFLUSH_LINE_QWORDS << L1_EBX_CLFLUSH_SHIFT) |
		 (logical << L1_EBX_LOGICAL_SHIFT) | (t->vcpu_id << L1_EBX_APIC_ID_SHIFT);
	/* HTT means "more than one logical processor per package", cores
	 * included, and tells the guest the count above is meaningful. */
	if (t->nr_vcpus > 1)
		e->edx |= L1_EDX_HTT;
	else
		e->edx &= ~L1_EDX_HTT;
	/* PDCM advertises IA32_PERF_CAPABILITIES, part of the PMU we hide. */
	e->ecx = (e->ecx & ~L1_ECX_PDCM) | L1_ECX_HYPERVISOR;
}

/* Caches up to L2 are per core (one thread each); L3 and beyond are
 * shared by the whole package. */
static uint32_t cache_sharing(uint32_t eax, const struct topo *t)
{
	uint32_t sharing = CACHE_EAX_LEVEL(eax) >= 3 ? t->span - 1 : 0;
	return (eax & ~CACHE_EAX_SHARING_MASK) | (sharing << CACHE_EAX_SHARING_SHIFT);
}

static void leaf_4(struct kvm_cpuid_entry2 *e, const struct topo *t)
{
	if ((e->eax & CACHE_EAX_TYPE_MASK) == 0)
		return; /* the "no more caches" terminator */
	uint32_t cores = t->span - 1 > 0x3f ? 0x3f : t->span - 1;
	e->eax = (cache_sharing(e->eax, t) & ~CACHE_EAX_CORES_MASK) | (cores << CACHE_EAX_CORES_SHIFT);
}

static void leaf_ext_topology(struct kvm_cpuid_entry2 *e, const struct topo *t)
{
	/* EDX holds the x2APIC ID on every subleaf; ECX[7:0] echoes the
	 * subleaf; EAX is the shift to the next level's ID; EBX the number of
	 * logical processors at this level. Subleaf 0 is the thread level,
	 * 1 the core level (the whole package), anything above invalid. */
	e->edx = t->vcpu_id;
	switch (e->index) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (TOPO_LEVEL_SMT << 8) | 0;
		break;
	case 1:
		e->eax = t->order;
		e->ebx = t->nr_vcpus;
		e->ecx = (TOPO_LEVEL_CORE << 8) | 1;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index & 0xffU;
		break;
	}
}

static void leaf_amd_80000008(struct kvm_cpuid_entry2 *e, const struct topo *t)
{
	/* NC = cores - 1; ApicIdSize = bits of the APIC ID that number cores. */
	e->ecx = (e->ecx & ~(AMD_80000008_ECX_NC_MASK | AMD_80000008_ECX_APIC_ID_SIZE_MASK)) |
		 (t->nr_vcpus - 1) | (t->order << AMD_80000008_ECX_APIC_ID_SIZE_SHIFT);
}

static void leaf_amd_8000001e(struct kvm_cpuid_entry2 *e, const struct topo *t)
{
	e->eax = t->vcpu_id; /* extended APIC ID */
	/* EBX: core ID, threads per core - 1 = 0. ECX: node 0, one node. */
	e->ebx = (e->ebx & ~0xffffU) | (t->vcpu_id & 0xffU);
	e->ecx &= ~0x7ffU;
}

/* 0x40000000 EAX names the highest hypervisor leaf; some KVM versions
 * report 0, which makes guests skip the KVM feature leaf 0x40000001. */
static void leaf_kvm_signature(struct kvm_cpuid2 *cpuid, struct kvm_cpuid_entry2 *sig)
{
	char v[12];
	memcpy(v, &sig->ebx, 4);
	memcpy(v + 4, &sig->ecx, 4);
	memcpy(v + 8, &sig->edx, 4);
	if (memcmp(v, "KVMKVMKVM\0\0\0", 12))
		return;
	uint32_t max = KVM_CPUID_SIGNATURE_LEAF;
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		uint32_t fn = cpuid->entries[i].function;
		if (fn > max && fn <= KVM_CPUID_LAST_LEAF)
			max = fn;
	}
	sig->eax = max;
}

int x86_cpuid_configure(struct kvm_cpuid2 *cpuid, uint32_t vcpu_id, uint32_t nr_vcpus)
{
	if (nr_vcpus == 0 || nr_vcpus > X86_MAX_VCPUS || vcpu_id >= nr_vcpus)
		return -EINVAL;
	struct topo t = { .vcpu_id = vcpu_id, .nr_vcpus = nr_vcpus, .order = ceil_log2(nr_vcpus) };
	t.span = 1U << t.order;
	enum cpu_vendor vendor = find_vendor(cpuid);
	struct kvm_cpuid_entry2 *kvm_sig = NULL;

	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		switch (e->function) {
		case 1:
			leaf_1(e, &t);
			break;
		case 4:
			if (vendor == VENDOR_INTEL)
				leaf_4(e, &t);
			break;
		case 0xa:
			/* Architectural PMU: version 0 = none. The VMM does not
			 * offer a PMU; guests then skip perf-counter MSRs (and the
			 * NMI watchdog built on them), which this project's nested
			 * KVM would only emulate slowly, if at all. */
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 0xb:
		case 0x1f:
			/* Both vendors read 0xB when it is present (AMD Zen too). */
			leaf_ext_topology(e, &t);
			break;
		case 0x80000001:
			if (vendor == VENDOR_AMD)
				e->ecx &= ~AMD_80000001_ECX_PERFCTR_CORE;
			break;
		case 0x80000008:
			if (vendor == VENDOR_AMD)
				leaf_amd_80000008(e, &t);
			break;
		case 0x8000001d:
			if (vendor == VENDOR_AMD && (e->eax & CACHE_EAX_TYPE_MASK))
				e->eax = cache_sharing(e->eax, &t);
			break;
		case 0x8000001e:
			if (vendor == VENDOR_AMD)
				leaf_amd_8000001e(e, &t);
			break;
		case 0x80000022:
			/* AMD extended performance monitoring: hidden with the PMU. */
			if (vendor == VENDOR_AMD)
				e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case KVM_CPUID_SIGNATURE_LEAF:
			kvm_sig = e;
			break;
		default:
			break;
		}
	}
	if (kvm_sig)
		leaf_kvm_signature(cpuid, kvm_sig);
	return 0;
}

void x86_cpuid_enable_tsc_deadline(struct kvm_cpuid2 *cpuid)
{
	for (uint32_t i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == 1)
			cpuid->entries[i].ecx |= 1U << 24;
}
