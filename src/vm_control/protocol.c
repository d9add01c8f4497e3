/*
 * Control protocol encoding and validation (see protocol.h and
 * docs/control-protocol.md).
 *
 * Every field is read and written byte-wise in little-endian order, so
 * there are no packed structs, no alignment assumptions and no host
 * endianness leaks. Decoding checks the frame first (length, magic,
 * version, declared payload length) and then the payload against the
 * exact size and content rules of its type; each class of defect has its
 * own -errno so tests, fuzzers and error messages can tell them apart.
 */
#include "vm_control/protocol.h"

#include <errno.h>
#include <string.h>

_Static_assert(VIRTIO_BALLOON_S_NR == 16, "protocol v1 carries 16 balloon statistics");
_Static_assert(VMC_BALLOON_STATS_SIZE == 160, "balloon stats wire size");

#define REPLY_FIXED 8 /* status i32, msg_len u16, reserved u16 */
#define USB_ATTACH_FIXED 8
#define ERRNO_MAX 4095

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

const char *vmc_type_name(uint16_t type)
{
	switch (type) {
	case VMC_REQ_STOP: return "stop";
	case VMC_REQ_SUSPEND: return "suspend";
	case VMC_REQ_RESUME: return "resume";
	case VMC_REQ_BALLOON: return "balloon";
	case VMC_REQ_BALLOON_STATS: return "balloon_stats";
	case VMC_REQ_DISK_RESIZE: return "disk resize";
	case VMC_REQ_MAKE_RT: return "make_rt";
	case VMC_REQ_USB_LIST: return "usb list";
	case VMC_REQ_USB_ATTACH: return "usb attach";
	case VMC_REQ_USB_DETACH: return "usb detach";
	case VMC_REQ_BATTERY: return "battery";
	default: return "unknown";
	}
}

/* Checks the frame; on success it sets the type, the payload and its length. */
static int check_frame(const void *buf, size_t len, uint16_t *type, const uint8_t **payload, size_t *plen)
{
	const uint8_t *p = buf;
	if (len == 0)
		return -ENODATA;
	if (len > VMC_MAX_MSG)
		return -EMSGSIZE;
	if (len < VMC_HDR_SIZE)
		return -EBADMSG;
	if (get_le(p, 4) != VMC_MAGIC)
		return -EPROTO;
	if (get_le(p + 4, 2) != VMC_VERSION)
		return -EPROTONOSUPPORT;
	uint64_t declared = get_le(p + 8, 4);
	if (declared > VMC_MAX_MSG - VMC_HDR_SIZE)
		return -EMSGSIZE;
	if (declared > len - VMC_HDR_SIZE)
		return -EBADMSG;
	*type = (uint16_t)get_le(p + 6, 2);
	*payload = p + VMC_HDR_SIZE;
	*plen = (size_t)declared;
	return len > VMC_HDR_SIZE + (size_t)declared ? -E2BIG : 0;
}

/* A fixed field holding a NUL-terminated, non-empty string padded with
 * zeros: the whole field is defined, so no stale bytes can hide there. */
static int get_fixed_str(const uint8_t *p, size_t field, char *out)
{
	size_t n = strnlen((const char *)p, field);
	if (n == 0 || n == field)
		return -EILSEQ;
	for (size_t i = n; i < field; i++)
		if (p[i] != 0)
			return -EILSEQ;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static int want_len(size_t plen, size_t want)
{
	return plen == want ? 0 : -EINVAL;
}

int vmc_decode_request(const void *buf, size_t len, struct vmc_request *out)
{
	uint16_t type = 0;
	const uint8_t *p = NULL;
	size_t plen = 0;
	int rc = check_frame(buf, len, &type, &p, &plen);
	if (rc < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	out->type = type;
	switch (type) {
	case VMC_REQ_STOP:
	case VMC_REQ_SUSPEND:
	case VMC_REQ_RESUME:
	case VMC_REQ_BALLOON_STATS:
	case VMC_REQ_MAKE_RT:
	case VMC_REQ_USB_LIST:
		return want_len(plen, 0);
	case VMC_REQ_BALLOON:
		if ((rc = want_len(plen, 8)) < 0)
			return rc;
		out->u.balloon.bytes = get_le(p, 8);
		return 0;
	case VMC_REQ_DISK_RESIZE:
		if ((rc = want_len(plen, 12)) < 0)
			return rc;
		out->u.disk_resize.index = (uint32_t)get_le(p, 4);
		out->u.disk_resize.new_size = get_le(p + 4, 8);
		return 0;
	case VMC_REQ_USB_ATTACH: {
		if (plen < USB_ATTACH_FIXED)
			return -EINVAL;
		size_t path_len = (size_t)get_le(p + 6, 2);
		if (plen != USB_ATTACH_FIXED + path_len)
			return -EINVAL;
		if (path_len == 0 || path_len > VMC_PATH_MAX || memchr(p + USB_ATTACH_FIXED, 0, path_len))
			return -EILSEQ;
		struct vmc_usb_attach *a = &out->u.usb_attach;
		a->bus = p[0];
		a->addr = p[1];
		a->vid = (uint16_t)get_le(p + 2, 2);
		a->pid = (uint16_t)get_le(p + 4, 2);
		memcpy(a->path, p + USB_ATTACH_FIXED, path_len);
		a->path[path_len] = '\0';
		return 0;
	}
	case VMC_REQ_USB_DETACH:
		if ((rc = want_len(plen, 1)) < 0)
			return rc;
		out->u.usb_detach.port = p[0];
		return 0;
	case VMC_REQ_BATTERY: {
		if ((rc = want_len(plen, 3 * VMC_BATTERY_STR)) < 0)
			return rc;
		struct vmc_battery *b = &out->u.battery;
		if ((rc = get_fixed_str(p, VMC_BATTERY_STR, b->type)) < 0 ||
		    (rc = get_fixed_str(p + VMC_BATTERY_STR, VMC_BATTERY_STR, b->property)) < 0 ||
		    (rc = get_fixed_str(p + 2 * VMC_BATTERY_STR, VMC_BATTERY_STR, b->target)) < 0)
			return rc;
		return 0;
	}
	default:
		return -EBADRQC;
	}
}

static int reply_data_len(uint16_t type, int32_t status)
{
	return status == 0 && type == VMC_REQ_BALLOON_STATS ? VMC_BALLOON_STATS_SIZE : 0;
}

static void get_stats(const uint8_t *p, struct vmc_balloon_stats *s)
{
	s->stats.generation = get_le(p, 8);
	s->stats.timestamp_ns = get_le(p + 8, 8);
	s->stats.valid = (uint32_t)get_le(p + 16, 4);
	/* p + 20: 4 reserved bytes, checked by the caller */
	for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR; i++)
		s->stats.val[i] = get_le(p + 24 + 8 * i, 8);
	s->actual_bytes = get_le(p + 24 + 8 * VIRTIO_BALLOON_S_NR, 8);
}

static void put_stats(uint8_t *p, const struct vmc_balloon_stats *s)
{
	put_le(p, s->stats.generation, 8);
	put_le(p + 8, s->stats.timestamp_ns, 8);
	put_le(p + 16, s->stats.valid, 4);
	put_le(p + 20, 0, 4);
	for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR; i++)
		put_le(p + 24 + 8 * i, s->stats.val[i], 8);
	put_le(p + 24 + 8 * VIRTIO_BALLOON_S_NR, s->actual_bytes, 8);
}

int vmc_decode_reply(const void *buf, size_t len, struct vmc_reply *out)
{
	uint16_t type = 0;
	const uint8_t *p = NULL;
	size_t plen = 0;
	int rc = check_frame(buf, len, &type, &p, &plen);
	if (rc < 0)
		return rc;
	if (!(type & VMC_REPLY_FLAG) || (type & ~VMC_REPLY_FLAG) > VMC_REQ_MAX)
		return -EBADRQC;
	memset(out, 0, sizeof(*out));
	out->type = (uint16_t)(type & ~VMC_REPLY_FLAG);
	if (plen < REPLY_FIXED)
		return -EINVAL;
	int64_t status = (int32_t)(uint32_t)get_le(p, 4);
	size_t msg_len = (size_t)get_le(p + 4, 2);
	if (status > 0 || status < -ERRNO_MAX || get_le(p + 6, 2) != 0)
		return -EILSEQ;
	out->status = (int32_t)status;
	size_t data_len = (size_t)reply_data_len(out->type, out->status);
	if (msg_len > VMC_ERR_MAX || plen != REPLY_FIXED + msg_len + data_len)
		return -EINVAL;
	const uint8_t *msg = p + REPLY_FIXED;
	if ((msg_len > 0 && status == 0) || memchr(msg, 0, msg_len))
		return -EILSEQ;
	memcpy(out->msg, msg, msg_len);
	out->msg[msg_len] = '\0';
	if (data_len > 0) {
		const uint8_t *d = msg + msg_len;
		if (get_le(d + 20, 4) != 0)
			return -EILSEQ;
		get_stats(d, &out->balloon_stats);
	}
	return 0;
}

static void put_hdr(uint8_t *p, uint16_t type, size_t plen)
{
	put_le(p, VMC_MAGIC, 4);
	put_le(p + 4, VMC_VERSION, 2);
	put_le(p + 6, type, 2);
	put_le(p + 8, plen, 4);
}

/* Copies a string into a zero-padded fixed field, refusing what the
 * decoder would refuse. */
static int put_fixed_str(uint8_t *p, size_t field, const char *s)
{
	size_t n = strnlen(s, field);
	if (n == 0 || n == field)
		return -EINVAL;
	memset(p, 0, field);
	memcpy(p, s, n);
	return 0;
}

int vmc_encode_request(const struct vmc_request *req, void *buf, size_t cap)
{
	size_t plen;
	switch (req->type) {
	case VMC_REQ_STOP:
	case VMC_REQ_SUSPEND:
	case VMC_REQ_RESUME:
	case VMC_REQ_BALLOON_STATS:
	case VMC_REQ_MAKE_RT:
	case VMC_REQ_USB_LIST: plen = 0; break;
	case VMC_REQ_BALLOON: plen = 8; break;
	case VMC_REQ_DISK_RESIZE: plen = 12; break;
	case VMC_REQ_USB_ATTACH: {
		size_t n = strnlen(req->u.usb_attach.path, VMC_PATH_MAX + 1);
		if (n == 0 || n > VMC_PATH_MAX)
			return -EINVAL;
		plen = USB_ATTACH_FIXED + n;
		break;
	}
	case VMC_REQ_USB_DETACH: plen = 1; break;
	case VMC_REQ_BATTERY: plen = 3 * VMC_BATTERY_STR; break;
	default: return -EBADRQC;
	}
	if (cap < VMC_HDR_SIZE + plen)
		return -ENOBUFS;
	uint8_t *p = buf;
	uint8_t *d = p + VMC_HDR_SIZE;
	switch (req->type) {
	case VMC_REQ_BALLOON: put_le(d, req->u.balloon.bytes, 8); break;
	case VMC_REQ_DISK_RESIZE:
		put_le(d, req->u.disk_resize.index, 4);
		put_le(d + 4, req->u.disk_resize.new_size, 8);
		break;
	case VMC_REQ_USB_ATTACH: {
		const struct vmc_usb_attach *a = &req->u.usb_attach;
		d[0] = a->bus;
		d[1] = a->addr;
		put_le(d + 2, a->vid, 2);
		put_le(d + 4, a->pid, 2);
		put_le(d + 6, plen - USB_ATTACH_FIXED, 2);
		memcpy(d + USB_ATTACH_FIXED, a->path, plen - USB_ATTACH_FIXED);
		break;
	}
	case VMC_REQ_USB_DETACH: d[0] = req->u.usb_detach.port; break;
	case VMC_REQ_BATTERY: {
		const struct vmc_battery *b = &req->u.battery;
		int rc;
		if ((rc = put_fixed_str(d, VMC_BATTERY_STR, b->type)) < 0 ||
		    (rc = put_fixed_str(d + VMC_BATTERY_STR, VMC_BATTERY_STR, b->property)) < 0 ||
		    (rc = put_fixed_str(d + 2 * VMC_BATTERY_STR, VMC_BATTERY_STR, b->target)) < 0)
			return rc;
		break;
	}
	default: break;
	}
	put_hdr(p, req->type, plen);
	return (int)(VMC_HDR_SIZE + plen);
}

int vmc_encode_reply(const struct vmc_reply *rep, void *buf, size_t cap)
{
	if (rep->type > VMC_REQ_MAX || rep->status > 0 || rep->status < -ERRNO_MAX)
		return -EINVAL;
	size_t msg_len = rep->status < 0 ? strnlen(rep->msg, VMC_ERR_MAX) : 0;
	size_t data_len = (size_t)reply_data_len(rep->type, rep->status);
	size_t plen = REPLY_FIXED + msg_len + data_len;
	if (cap < VMC_HDR_SIZE + plen)
		return -ENOBUFS;
	uint8_t *p = buf;
	uint8_t *d = p + VMC_HDR_SIZE;
	put_hdr(p, (uint16_t)(VMC_REPLY_FLAG | rep->type), plen);
	put_le(d, (uint32_t)rep->status, 4);
	put_le(d + 4, msg_len, 2);
	put_le(d + 6, 0, 2);
	memcpy(d + REPLY_FIXED, rep->msg, msg_len);
	if (data_len > 0)
		put_stats(d + REPLY_FIXED + msg_len, &rep->balloon_stats);
	return (int)(VMC_HDR_SIZE + plen);
}
