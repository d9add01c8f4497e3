/*
 * libFuzzer target for the control socket protocol decoders: the input is
 * one datagram as a hostile client (for requests) or a hostile or broken
 * server (for replies) would send it. Both decoders see every input.
 * Besides ASan/UBSan, the promises are checked: a decoder returns 0 or
 * one of its documented errors, an accepted message re-encodes to exactly
 * the bytes it came from (the wire form is canonical, nothing hides in
 * padding), and re-decoding gives the same structure. The answering side
 * (vmc_answer, as the control socket and device processes use it) gives
 * every datagram one well-formed reply.
 */
#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "vm_control/dispatch.h"
#include "vm_control/protocol.h"
#include "vm_control/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool documented(int rc)
{
	switch (rc) {
	case 0:
	case -ENODATA:
	case -EMSGSIZE:
	case -EBADMSG:
	case -EPROTO:
	case -EPROTONOSUPPORT:
	case -EBADRQC:
	case -EINVAL:
	case -E2BIG:
	case -EILSEQ: return true;
	default: return false;
	}
}

static uint8_t out[VMC_MAX_MSG];

static void fuzz_request(const uint8_t *data, size_t size)
{
	struct vmc_request req, again;
	int rc = vmc_decode_request(data, size, &req);
	fuzz_check(documented(rc));
	if (rc < 0)
		return;
	fuzz_check(req.type >= VMC_REQ_STOP && req.type <= VMC_REQ_MAX);
	int n = vmc_encode_request(&req, out, sizeof(out));
	fuzz_check(n > 0 && (size_t)n == size && memcmp(out, data, size) == 0);
	fuzz_check(vmc_decode_request(out, (size_t)n, &again) == 0);
	fuzz_check(memcmp(&req, &again, sizeof(req)) == 0);
}

static void fuzz_reply(const uint8_t *data, size_t size)
{
	struct vmc_reply rep, again;
	int rc = vmc_decode_reply(data, size, &rep);
	fuzz_check(documented(rc));
	if (rc < 0)
		return;
	fuzz_check(rep.status <= 0 && rep.status >= -4095);
	fuzz_check(strlen(rep.msg) <= VMC_ERR_MAX);
	fuzz_check(rep.status < 0 || rep.msg[0] == '\0');
	int n = vmc_encode_reply(&rep, out, sizeof(out));
	fuzz_check(n > 0 && (size_t)n == size && memcmp(out, data, size) == 0);
	fuzz_check(vmc_decode_reply(out, (size_t)n, &again) == 0);
	fuzz_check(memcmp(&rep, &again, sizeof(rep)) == 0);
}

/* Handlers that accept everything, as a device process's would. */
static int ok_u64(void *ctx, uint64_t v) { (void)ctx, (void)v; return 0; }
static int ok_stats(void *ctx, struct vmc_balloon_stats *st) { (void)ctx, (void)st; return 0; }
static int refuse_resize(void *ctx, uint32_t index, uint64_t size, char *err, size_t errlen)
{
	(void)ctx, (void)index, (void)size;
	snprintf(err, errlen, "no");
	return -EROFS;
}
static const struct vmc_handlers handlers = { .balloon = ok_u64, .balloon_stats = ok_stats,
					      .disk_resize = refuse_resize };

/* The answering side (the control socket's and a device process's): any
 * datagram gets one reply that decodes and answers it. */
static void fuzz_answer(const uint8_t *data, size_t size)
{
	bool keep;
	int n = vmc_answer(&handlers, NULL, data, size, &keep, out, sizeof(out));
	fuzz_check(n > 0);
	struct vmc_reply rep;
	fuzz_check(vmc_decode_reply(out, (size_t)n, &rep) == 0);
	struct vmc_request req;
	bool valid = vmc_decode_request(data, size, &req) == 0;
	fuzz_check(keep == valid);
	fuzz_check(valid ? rep.type == req.type : (rep.type == 0 && rep.status < 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_request(data, size);
	fuzz_reply(data, size);
	fuzz_answer(data, size);
	return 0;
}
