/*
 * Answering control requests (see dispatch.h): decode, run through the
 * handler table, encode. The one place that words the replies: a missing
 * handler says which device is missing, a failing one without a message
 * gets "<request> failed: <strerror>", a malformed message names its
 * defect.
 */
#include "vm_control/dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "vm_control/server.h"

static const char *missing_msg(uint16_t type)
{
	switch (type) {
	case VMC_REQ_BALLOON:
	case VMC_REQ_BALLOON_STATS: return "no balloon device";
	case VMC_REQ_DISK_RESIZE: return "no such disk";
	case VMC_REQ_USB_LIST:
	case VMC_REQ_USB_ATTACH:
	case VMC_REQ_USB_DETACH: return "no USB controller";
	case VMC_REQ_BATTERY: return "no battery device";
	default: return "not supported by this VM";
	}
}

/* Runs one valid request through the handler table into *rep. */
static void dispatch(const struct vmc_handlers *h, void *ctx, const struct vmc_request *req, struct vmc_reply *rep)
{
	char *err = rep->msg;
	size_t errlen = sizeof(rep->msg);
	int rc = -ENOTSUP;
	bool have = false;
	switch (req->type) {
	case VMC_REQ_STOP:
		if ((have = h->stop))
			rc = h->stop(ctx);
		break;
	case VMC_REQ_SUSPEND:
		if ((have = h->suspend))
			rc = h->suspend(ctx);
		break;
	case VMC_REQ_RESUME:
		if ((have = h->resume))
			rc = h->resume(ctx);
		break;
	case VMC_REQ_BALLOON:
		if ((have = h->balloon))
			rc = h->balloon(ctx, req->u.balloon.bytes);
		break;
	case VMC_REQ_BALLOON_STATS:
		if ((have = h->balloon_stats))
			rc = h->balloon_stats(ctx, &rep->balloon_stats);
		break;
	case VMC_REQ_DISK_RESIZE:
		if ((have = h->disk_resize))
			rc = h->disk_resize(ctx, req->u.disk_resize.index, req->u.disk_resize.new_size, err,
					    errlen);
		break;
	case VMC_REQ_MAKE_RT:
		if ((have = h->make_rt))
			rc = h->make_rt(ctx, err, errlen);
		break;
	case VMC_REQ_USB_LIST:
		if ((have = h->usb_list))
			rc = h->usb_list(ctx, err, errlen);
		break;
	case VMC_REQ_USB_ATTACH:
		if ((have = h->usb_attach))
			rc = h->usb_attach(ctx, &req->u.usb_attach, err, errlen);
		break;
	case VMC_REQ_USB_DETACH:
		if ((have = h->usb_detach))
			rc = h->usb_detach(ctx, req->u.usb_detach.port, err, errlen);
		break;
	case VMC_REQ_BATTERY:
		if ((have = h->battery))
			rc = h->battery(ctx, &req->u.battery, err, errlen);
		break;
	default: break;
	}
	/* A handler may write anything into err; make it a string again. */
	rep->msg[sizeof(rep->msg) - 1] = '\0';
	if (rc > 0)
		rc = 0;
	if (rc < -4095)
		rc = -EIO;
	rep->status = rc;
	if (rc == 0) {
		rep->msg[0] = '\0';
	} else if (!have) {
		snprintf(rep->msg, sizeof(rep->msg), "%s: %s", vmc_type_name(req->type), missing_msg(req->type));
	} else if (rep->msg[0] == '\0') {
		char eb[128];
		snprintf(rep->msg, sizeof(rep->msg), "%s failed: %s", vmc_type_name(req->type),
			 strerror_r(-rc, eb, sizeof(eb)));
	}
}

int vmc_answer(const struct vmc_handlers *h, void *ctx, const void *in, size_t len, bool *keep, void *out,
	       size_t cap)
{
	struct vmc_request req;
	int rc = vmc_decode_request(in, len, &req);
	*keep = rc == 0;
	struct vmc_reply *rep = &(struct vmc_reply){ .type = rc == 0 ? req.type : 0 };
	if (rc < 0) {
		rep->status = rc;
		snprintf(rep->msg, sizeof(rep->msg), "malformed request (error %d)", -rc);
	} else {
		dispatch(h, ctx, &req, rep);
	}
	return vmc_encode_reply(rep, out, cap);
}

int vmc_serve_connection(int fd, const struct vmc_handlers *h, void *ctx)
{
	uint8_t in[VMC_MAX_MSG + 1], out[VMC_MAX_MSG];
	for (;;) {
		struct iovec iov = { .iov_base = in, .iov_len = sizeof(in) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		/* No control buffer: fds a peer might attach are closed by the
		 * kernel (MSG_CTRUNC). */
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0; /* the peer hung up (it sends no empty requests) */
		size_t len = (mh.msg_flags & MSG_TRUNC) ? sizeof(in) : (size_t)n;
		bool keep;
		int w = vmc_answer(h, ctx, in, len, &keep, out, sizeof(out));
		if (w < 0)
			return w;
		ssize_t s;
		do
			s = send(fd, out, (size_t)w, MSG_NOSIGNAL);
		while (s < 0 && errno == EINTR);
		if (s < 0)
			return -errno;
		if (!keep)
			return -EBADMSG;
	}
}
