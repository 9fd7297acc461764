//go:build cgo

package media

/*
#cgo pkg-config: vpx
#include <stdlib.h>
#include <string.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vp8cx.h>

typedef struct {
	vpx_codec_ctx_t ctx;
	vpx_image_t img;
	unsigned char *buf;
	size_t cap;
} cradle_vp8;

// cradle_vp8_open sets libvpx up for live video the way WebRTC does: one
// pass, CBR, no look-ahead, error resilient, real-time speed.
static cradle_vp8 *cradle_vp8_open(int w, int h, int kbps, int kf_dist, int threads, int cpu_used, int *err) {
	vpx_codec_enc_cfg_t cfg;
	*err = vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0);
	if (*err) return NULL;
	cfg.g_w = w;
	cfg.g_h = h;
	cfg.g_timebase.num = 1;
	cfg.g_timebase.den = 90000;
	cfg.g_threads = threads;
	cfg.g_lag_in_frames = 0;
	cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	cfg.g_pass = VPX_RC_ONE_PASS;
	cfg.rc_end_usage = VPX_CBR;
	cfg.rc_target_bitrate = kbps;
	cfg.rc_min_quantizer = 2;
	cfg.rc_max_quantizer = 56;
	cfg.rc_undershoot_pct = 100;
	cfg.rc_overshoot_pct = 15;
	cfg.rc_buf_initial_sz = 500;
	cfg.rc_buf_optimal_sz = 600;
	cfg.rc_buf_sz = 1000;
	cfg.rc_dropframe_thresh = 0;
	cfg.rc_resize_allowed = 0;
	cfg.kf_mode = VPX_KF_AUTO;
	cfg.kf_max_dist = kf_dist;

	cradle_vp8 *e = calloc(1, sizeof *e);
	if (!e) { *err = VPX_CODEC_MEM_ERROR; return NULL; }
	*err = vpx_codec_enc_init(&e->ctx, vpx_codec_vp8_cx(), &cfg, 0);
	if (*err) { free(e); return NULL; }
	vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, cpu_used);
	vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, 1);
	vpx_codec_control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0);
	vpx_codec_control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS, VP8_ONE_TOKENPARTITION);
	// Key frames at most 3 times an average frame, so they do not burst.
	vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, 300);
	// The planes point into Go memory during each encode call only.
	e->img.fmt = VPX_IMG_FMT_I420;
	e->img.cs = VPX_CS_BT_601;
	e->img.range = VPX_CR_STUDIO_RANGE;
	e->img.w = e->img.d_w = e->img.r_w = w;
	e->img.h = e->img.d_h = e->img.r_h = h;
	e->img.x_chroma_shift = e->img.y_chroma_shift = 1;
	e->img.bps = 12;
	return e;
}

// cradle_vp8_encode encodes one picture into e->buf and returns the
// frame's size: 0 if the encoder dropped the picture, -1 on error.
static long cradle_vp8_encode(cradle_vp8 *e,
	unsigned char *y, unsigned char *u, unsigned char *v, int ystride, int cstride,
	long long pts, unsigned long dur, int force_key, int *key, int *err) {
	e->img.planes[0] = y;
	e->img.planes[1] = u;
	e->img.planes[2] = v;
	e->img.stride[0] = ystride;
	e->img.stride[1] = cstride;
	e->img.stride[2] = cstride;
	*err = vpx_codec_encode(&e->ctx, &e->img, pts, dur, force_key ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME);
	e->img.planes[0] = e->img.planes[1] = e->img.planes[2] = NULL;
	if (*err) return -1;
	size_t n = 0;
	*key = 0;
	vpx_codec_iter_t it = NULL;
	const vpx_codec_cx_pkt_t *pkt;
	while ((pkt = vpx_codec_get_cx_data(&e->ctx, &it)) != NULL) {
		if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
		if (pkt->data.frame.flags & VPX_FRAME_IS_KEY) *key = 1;
		if (n + pkt->data.frame.sz > e->cap) {
			size_t c = 2 * (n + pkt->data.frame.sz);
			unsigned char *b = realloc(e->buf, c);
			if (!b) { *err = VPX_CODEC_MEM_ERROR; return -1; }
			e->buf = b;
			e->cap = c;
		}
		memcpy(e->buf + n, pkt->data.frame.buf, pkt->data.frame.sz);
		n += pkt->data.frame.sz;
	}
	return (long)n;
}

static void cradle_vp8_close(cradle_vp8 *e) {
	vpx_codec_destroy(&e->ctx);
	free(e->buf);
	free(e);
}
*/
import "C"

import (
	"fmt"
	"image"
	"runtime"
	"time"
	"unsafe"
)

// vp8CPUUsed is libvpx's real-time speed setting. A positive value N
// makes VP8 choose its speed frame by frame so that encoding takes at most
// (16-N)/16 of the frame interval (vp8_auto_select_speed): 12 keeps the
// encoder within a quarter of a core, at full quality on a fast machine
// and trading quality for time on a Pi Zero 2 W. mediadevices' VP8 wrapper
// leaves it at 0 (slowest) and costs three to four times more here.
const vp8CPUUsed = 12

type vp8Encoder struct {
	e    *C.cradle_vp8
	w, h int
	// last is the previous pts in 90 kHz units: frames need increasing pts.
	last int64
}

func newVP8Encoder(cfg Config, width, height int) (videoEncoder, error) {
	// Two threads at most: leave a core to audio and the network.
	threads := max(1, min(runtime.NumCPU()-1, 2))
	if width*height < 640*360 {
		threads = 1
	}
	kf := max(1, int(cfg.KeyFrameInterval.Seconds()*float64(cfg.FPS)))
	var cerr C.int
	e := C.cradle_vp8_open(C.int(width), C.int(height), C.int(cfg.VideoBitrate/1000),
		C.int(kf), C.int(threads), C.int(vp8CPUUsed), &cerr)
	if e == nil {
		return nil, fmt.Errorf("media: vp8: opening the encoder: %s", C.GoString(C.vpx_codec_err_to_string(C.vpx_codec_err_t(cerr))))
	}
	return &vp8Encoder{e: e, w: width, h: height, last: -1}, nil
}

func (v *vp8Encoder) Encode(img *image.YCbCr, pts time.Duration, forceKey bool) ([]byte, bool, error) {
	if v.e == nil {
		return nil, false, ErrClosed
	}
	if img.Rect.Dx() != v.w || img.Rect.Dy() != v.h || img.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return nil, false, fmt.Errorf("media: vp8: picture %v %v, want %dx%d 4:2:0", img.Rect.Size(), img.SubsampleRatio, v.w, v.h)
	}
	t := int64(pts * 90000 / time.Second)
	if t <= v.last {
		t = v.last + 1
	}
	dur := C.ulong(1)
	if v.last >= 0 {
		dur = C.ulong(t - v.last)
	}
	v.last = t
	force := C.int(0)
	if forceKey {
		force = 1
	}
	y, cb, cr := img.Y[img.YOffset(img.Rect.Min.X, img.Rect.Min.Y):], img.Cb[img.COffset(img.Rect.Min.X, img.Rect.Min.Y):], img.Cr[img.COffset(img.Rect.Min.X, img.Rect.Min.Y):]
	var key, cerr C.int
	n := C.cradle_vp8_encode(v.e,
		(*C.uchar)(unsafe.Pointer(&y[0])), (*C.uchar)(unsafe.Pointer(&cb[0])), (*C.uchar)(unsafe.Pointer(&cr[0])),
		C.int(img.YStride), C.int(img.CStride), C.longlong(t), dur, force, &key, &cerr)
	if n < 0 {
		return nil, false, fmt.Errorf("media: vp8: encoding: %s", C.GoString(C.vpx_codec_err_to_string(C.vpx_codec_err_t(cerr))))
	}
	if n == 0 {
		return nil, false, nil
	}
	return C.GoBytes(unsafe.Pointer(v.e.buf), C.int(n)), key != 0, nil
}

func (v *vp8Encoder) Close() error {
	if v.e != nil {
		C.cradle_vp8_close(v.e)
		v.e = nil
	}
	return nil
}
