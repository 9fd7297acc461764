package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cradle-monitor/cradle/appliance/listener"
)

// The probe is this test binary run again as a helper process (started by
// startProbe, recognised in init before TestMain builds anything), so a
// listener or a packet relay can run inside a network namespace that the
// test process itself is not in:
//
//	probe listen STATE-DIR MONITOR [PERIOD]
//	                                streams audio with the listener library and
//	                                prints what the soak tests measure
//	probe relay TUN-A TUN-B MIN MAX creates two TUN devices and forwards IP
//	                                packets between them, each after a random
//	                                delay in [MIN, MAX) (so they reorder)
//
// Both run until killed.
const probeEnv = "CRADLE_E2E_PROBE"

func init() {
	if os.Getenv(probeEnv) == "" {
		return
	}
	var err error
	switch args := os.Args[1:]; {
	case len(args) == 3 && args[0] == "listen":
		err = probeListen(args[1], args[2], 0, os.Stdout)
	case len(args) == 4 && args[0] == "listen":
		var period time.Duration
		if period, err = time.ParseDuration(args[3]); err == nil {
			err = probeListen(args[1], args[2], period, os.Stdout)
		}
	case len(args) == 5 && args[0] == "relay":
		err = probeRelay(args[1], args[2], args[3], args[4], os.Stdout)
	default:
		err = fmt.Errorf("probe: bad arguments %q", args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// startProbe runs the probe behind prefix (e.g. ip netns exec NS).
func startProbe(t *testing.T, prefix []string, args ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(binDir, "e2e-probe")
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink(exe, link); err != nil {
			t.Fatal(err)
		}
	}
	p := append(append([]string(nil), prefix...), "env", probeEnv+"=1")
	return start(t, p, "e2e-probe", args...)
}

// probeListen streams audio from the paired monitor and prints, besides a
// line for every presence, stream and alarm change and every stream's
// first audio packet, one tick line a second:
//
//	tick packets=N gap=MS stall=MS rtt=MS reordered=N offset=MS phase=MS goroutines=N heap=KB
//
// packets: audio packets so far; gap: the longest wait between two packets
// that arrived in this second; stall: how long since the last packet;
// reordered: packets so far whose sequence number went back; offset: the
// least, over this second, of a packet's arrival minus the arrival its RTP
// timestamp predicts from the stream's first packet (it grows with the
// latency, and with every frame the monitor dropped, as the timestamps
// skip no time for those); goroutines and heap (HeapInuse) are the
// probe's own.
//
// With a period (a monitor whose test tone is scripted, e.g.
// silence:1s,tone:1s, period 2s), phase is when, in this second, the
// decoded audio went from silence to tone, relative to the first such
// edge, modulo the period, in (-period/2, period/2]. The script follows
// the monitor's clock, skipping ahead when the monitor falls behind, so
// the phase moves with the latency from capture to decoded audio, and
// with nothing else. Only decoded frames count: a silence with a lost
// packet in it (or the silence played over a long gap) is no edge's.
// "none" when nothing was measured in the second.
func probeListen(stateDir, target string, period time.Duration, stdout io.Writer) error {
	l, err := listener.Open(listener.Config{StateDir: stateDir, Name: "probe"})
	if err != nil {
		return err
	}
	m, err := l.Resolve(target)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s := l.Start(m, listener.SessionOptions{Stream: listener.StreamAudio})
	defer s.Close()
	sub := s.Subscribe(listener.SubscribeOptions{Audio: true, PCM: period > 0, Queue: 4096})
	defer sub.Close()

	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(stdout, format+"\n", args...)
	}
	var (
		mu                sync.Mutex
		packets, reorders int
		last              time.Time
		gap               time.Duration
		lastSeq           uint16
		base              time.Time // arrival of the stream's first packet
		ts0, ts           int64     // its RTP timestamp, the latest (unwrapped)
		lastTS            uint32
		offset            time.Duration
		haveOffset        bool
		edge0             time.Time // the first silence-to-tone edge
		phase             time.Duration
		havePhase         bool
		quiet             int // samples of silence in a row
	)
	var wg sync.WaitGroup
	defer wg.Wait()
	tickCtx, stopTicks := context.WithCancel(ctx)
	defer stopTicks()
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-tickCtx.Done():
				return
			case now := <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				rtt := s.Snapshot().RTT
				mu.Lock()
				stall := time.Duration(0)
				if !last.IsZero() {
					stall = now.Sub(last)
				}
				off := "none"
				if haveOffset {
					off = strconv.FormatFloat(float64(offset)/float64(time.Millisecond), 'f', 2, 64)
				}
				ph := "none"
				if havePhase {
					ph = strconv.FormatFloat(float64(phase)/float64(time.Millisecond), 'f', 2, 64)
				}
				say("tick packets=%d gap=%d stall=%d rtt=%d reordered=%d offset=%s phase=%s goroutines=%d heap=%d",
					packets, gap.Milliseconds(), stall.Milliseconds(), rtt.Milliseconds(), reorders, off, ph, runtime.NumGoroutine(), ms.HeapInuse/1024)
				gap, haveOffset, havePhase = 0, false, false
				mu.Unlock()
			}
		}
	})
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return nil
		}
		switch ev := ev.(type) {
		case listener.PresenceEvent:
			say("presence %s", ev.Presence)
		case listener.StreamEvent:
			say("stream %s", ev.State)
		case listener.AlarmEvent:
			say("alarm active=%v sounding=%v reason=%s", ev.State.Active, ev.State.Sounding, ev.State.Reason)
		case listener.PCMEvent:
			now := time.Now()
			var sum float64
			for _, v := range ev.Frame.PCM {
				sum += float64(v) * float64(v)
			}
			loud := len(ev.Frame.PCM) > 0 && math.Sqrt(sum/float64(len(ev.Frame.PCM))) > 1000
			mu.Lock()
			switch {
			case ev.Frame.Concealed:
				// A lost packet: the silence the jitter buffer plays
				// over a long gap is no edge's silence.
				quiet = 0
			case !loud:
				quiet += len(ev.Frame.PCM)
			default:
				if quiet >= 48000/2 { // after half a second of silence: an edge
					if edge0.IsZero() {
						edge0 = now
					}
					ph := now.Sub(edge0) % period
					if ph > period/2 {
						ph -= period
					} else if ph <= -period/2 {
						ph += period
					}
					phase, havePhase = ph, true
				}
				quiet = 0
			}
			mu.Unlock()
		case listener.MediaEvent:
			if ev.Video {
				continue
			}
			mu.Lock()
			p := ev.Packet
			if ev.First {
				base, ts0, ts, lastTS = ev.Arrived, int64(p.Timestamp), int64(p.Timestamp), p.Timestamp
			} else {
				if !last.IsZero() {
					gap = max(gap, ev.Arrived.Sub(last))
				}
				if int16(p.SequenceNumber-lastSeq) < 0 {
					reorders++
				}
				ts += int64(int32(p.Timestamp - lastTS))
				lastTS = p.Timestamp
			}
			if ev.First || int16(p.SequenceNumber-lastSeq) > 0 {
				lastSeq = p.SequenceNumber
			}
			packets++
			last = ev.Arrived
			// RTP audio runs at 48 kHz.
			off := ev.Arrived.Sub(base) - time.Duration(ts-ts0)*time.Second/48000
			if !haveOffset || off < offset {
				offset, haveOffset = off, true
			}
			mu.Unlock()
			if ev.First {
				say("first audio")
			}
		}
	}
}

// probeTick is one tick line of probeListen.
type probeTick struct {
	packets, reordered, goroutines int
	gap, stall, rtt                time.Duration
	offset, phase                  time.Duration
	hasOffset, hasPhase            bool
	heapKB                         int64
}

func parseTick(line string) (probeTick, bool) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "tick" {
		return probeTick{}, false
	}
	var pt probeTick
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "packets":
			pt.packets = int(n)
		case "gap":
			pt.gap = time.Duration(n) * time.Millisecond
		case "stall":
			pt.stall = time.Duration(n) * time.Millisecond
		case "rtt":
			pt.rtt = time.Duration(n) * time.Millisecond
		case "reordered":
			pt.reordered = int(n)
		case "goroutines":
			pt.goroutines = int(n)
		case "heap":
			pt.heapKB = n
		case "offset":
			if x, err := strconv.ParseFloat(v, 64); err == nil {
				pt.offset, pt.hasOffset = time.Duration(x*float64(time.Millisecond)), true
			}
		case "phase":
			if x, err := strconv.ParseFloat(v, 64); err == nil {
				pt.phase, pt.hasPhase = time.Duration(x*float64(time.Millisecond)), true
			}
		}
	}
	return pt, true
}

// probeRelay forwards IP packets between two TUN devices it creates in
// its network namespace, each after a random delay in [min, max). It
// prints "ready" once both exist, then once a second the packets relayed
// so far: "relayed N".
func probeRelay(a, b, minS, maxS string, stdout io.Writer) error {
	lo, err := time.ParseDuration(minS)
	if err != nil {
		return err
	}
	hi, err := time.ParseDuration(maxS)
	if err != nil {
		return err
	}
	ta, err := openTUN(a)
	if err != nil {
		return err
	}
	defer ta.Close()
	tb, err := openTUN(b)
	if err != nil {
		return err
	}
	defer tb.Close()
	var mu sync.Mutex
	n := 0
	pump := func(src, dst *os.File) {
		buf := make([]byte, 65536)
		for {
			k, err := src.Read(buf)
			if err != nil {
				return
			}
			pkt := append([]byte(nil), buf[:k]...)
			d := lo + rand.N(hi-lo+1)
			time.AfterFunc(d, func() {
				if _, err := dst.Write(pkt); err == nil {
					mu.Lock()
					n++
					mu.Unlock()
				}
			})
		}
	}
	go pump(ta, tb) // end with the process
	go pump(tb, ta)
	fmt.Fprintln(stdout, "ready")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			mu.Lock()
			fmt.Fprintf(stdout, "relayed %d\n", n)
			mu.Unlock()
		}
	}
}

// openTUN creates the TUN device name (IP packets, no packet info) in the
// process's network namespace; it goes away when the file is closed.
func openTUN(name string) (*os.File, error) {
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var ifr [40]byte // struct ifreq: name, then flags
	copy(ifr[:syscall.IFNAMSIZ-1], name)
	binary.NativeEndian.PutUint16(ifr[syscall.IFNAMSIZ:], syscall.IFF_TUN|syscall.IFF_NO_PI)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TUNSETIFF, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, e)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}
