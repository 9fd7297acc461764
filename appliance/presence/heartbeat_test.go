package presence

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func rel(tm time.Time) time.Duration { return tm.Sub(t0) }

// runScript drives a Heartbeat (default config, created at t0) through a
// script. Each line is
//
//	<time> <op> [args] [=> <tick result>] [| key=value ...]
//
// ops: tick, pong N [echo=bad], frame, ping N, interval D. A tick result is
// "ping N", "none" or "dead". Keys after '|' check Stats and NextTick: next,
// deadline, seen, proven, pong (LastPong), srtt, rttvar, last (durations),
// sent, recv, missed (ints).
func runScript(t *testing.T, cfg Config, script string) {
	t.Helper()
	h := New(cfg, t0)
	sentAt := map[uint64]int64{}
	for n, line := range strings.Split(strings.TrimSpace(script), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("line %d %q: %s", n+1, line, fmt.Sprintf(format, args...))
		}
		cmd, checks, _ := strings.Cut(line, "|")
		cmd, want, hasWant := strings.Cut(cmd, "=>")
		f := strings.Fields(cmd)
		d, err := time.ParseDuration(f[0])
		if err != nil {
			fail("bad time: %v", err)
		}
		now := t0.Add(d)
		arg := func(i int) uint64 {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				fail("bad number: %v", err)
			}
			return v
		}
		switch f[1] {
		case "tick":
			p, dead := h.Tick(now)
			got := "none"
			switch {
			case dead:
				got = "dead"
			case p != nil:
				got = fmt.Sprintf("ping %d", p.Seq)
				sentAt[p.Seq] = p.SentUnixNano
				if p.SentUnixNano != now.UnixNano() {
					fail("ping SentUnixNano %d, want %d", p.SentUnixNano, now.UnixNano())
				}
			}
			if w := strings.TrimSpace(want); hasWant && got != w {
				fail("tick gave %q, want %q", got, w)
			}
		case "pong":
			seq := arg(2)
			echo := sentAt[seq]
			if len(f) > 3 && f[3] == "echo=bad" {
				echo++
			}
			h.OnPong(Pong{Seq: seq, EchoUnixNano: echo}, now)
		case "ping":
			p := Ping{Seq: arg(2), SentUnixNano: 42}
			if got := h.OnPing(p, now); got != (Pong{Seq: p.Seq, EchoUnixNano: 42}) {
				fail("OnPing answered %+v", got)
			}
		case "frame":
			h.OnFrame(now)
		case "interval":
			iv, err := time.ParseDuration(f[2])
			if err != nil {
				fail("bad interval: %v", err)
			}
			h.SetInterval(iv, now)
		default:
			fail("unknown op %q", f[1])
		}
		st := h.Stats()
		for _, kv := range strings.Fields(checks) {
			k, v, _ := strings.Cut(kv, "=")
			var got string
			switch k {
			case "next":
				got = rel(h.NextTick()).String()
			case "deadline":
				got = rel(st.Deadline).String()
			case "seen":
				got = rel(st.LastSeen).String()
			case "proven":
				got = rel(st.Proven).String()
			case "pong":
				got = rel(st.LastPong).String()
			case "srtt":
				got = st.SRTT.String()
			case "rttvar":
				got = st.RTTVar.String()
			case "last":
				got = st.LastRTT.String()
			case "sent":
				got = strconv.FormatUint(st.Sent, 10)
			case "recv":
				got = strconv.FormatUint(st.Received, 10)
			case "missed":
				got = strconv.Itoa(st.Missed)
			default:
				fail("unknown key %q", k)
			}
			if k != "sent" && k != "recv" && k != "missed" {
				wd, err := time.ParseDuration(v)
				if err != nil {
					fail("bad duration %q", v)
				}
				v = wd.String()
			}
			if got != v {
				fail("%s = %s, want %s", k, got, v)
			}
		}
	}
}

func TestHeartbeatScripts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		script string
	}{
		{"on time", Config{}, `
			0s tick => ping 1        | next=1s deadline=3.25s proven=0s sent=1 missed=0
			20ms pong 1              | srtt=20ms rttvar=10ms last=20ms recv=1 seen=20ms pong=20ms deadline=3.25s
			500ms tick => none       | next=1s
			1s tick => ping 2        | missed=0 next=2s
			1.03s pong 2             | last=30ms srtt=21.25ms rttvar=10ms recv=2 missed=0 proven=1s deadline=4.25s
			2s tick => ping 3
			2.02s pong 3             | last=20ms srtt=21.09375ms rttvar=7.8125ms deadline=5.25s
		`},
		{"two lost pongs tolerated, three are death", Config{}, `
			0s tick => ping 1
			20ms pong 1              | deadline=3.25s
			1s tick => ping 2        | missed=0
			2s tick => ping 3        | missed=1
			3s tick => ping 4        | missed=2 next=3.25s
			3.02s pong 4             | missed=0 recv=2 seen=3.02s proven=3s deadline=6.25s next=4s
			4s tick => ping 5
			5s tick => ping 6        | missed=1
			6s tick => ping 7        | missed=2 next=6.25s
			6.249s tick => none
			6.25s tick => dead       | next=6.25s
			6.3s pong 7
			6.3s frame               | seen=3.02s recv=2 proven=3s
			7s tick => dead
		`},
		{"late and duplicated pongs", Config{}, `
			0s tick => ping 1
			1s tick => ping 2        | missed=1
			1.5s pong 1              | last=1.5s srtt=1.5s recv=1 seen=1.5s missed=0 proven=0s deadline=3.25s
			1.52s pong 2             | last=520ms srtt=1.3775s recv=2 missed=0 proven=1s deadline=4.25s
			1.6s pong 1              | last=520ms srtt=1.3775s recv=2 seen=1.6s pong=1.52s deadline=4.25s
			1.7s pong 2              | recv=2 seen=1.7s pong=1.52s deadline=4.25s
			2s tick => ping 3
		`},
		{"pongs out of order: the newest ping counts", Config{}, `
			0s tick => ping 1
			1s tick => ping 2
			2s tick => ping 3
			2.1s pong 3              | proven=2s deadline=5.25s
			2.2s pong 2              | proven=2s deadline=5.25s recv=2
			5.25s tick => dead
		`},
		{"pongs for pings never sent are ignored", Config{}, `
			0s tick => ping 1
			10ms pong 0              | seen=0s recv=0
			20ms pong 2              | seen=0s recv=0
			30ms pong 99             | seen=0s recv=0
			40ms pong 1 echo=bad     | seen=0s recv=0 last=0s
			50ms pong 1              | seen=50ms recv=1 last=50ms proven=0s deadline=3.25s
		`},
		{"frames and the peer's pings are not signs of life", Config{}, `
			0s tick => ping 1
			10ms pong 1
			1s tick => ping 2
			1.5s frame               | seen=1.5s deadline=3.25s recv=1 missed=0
			2s tick => ping 3
			2.5s ping 7              | seen=2.5s deadline=3.25s
			3s tick => ping 4        | missed=2
			3.2s frame               | seen=3.2s deadline=3.25s
			3.25s tick => dead
		`},
		{"stale pong released by a retransmission moves nothing", Config{}, `
			0s tick => ping 1
			1s tick => ping 2
			1.5s pong 2              | proven=1s deadline=4.25s
			2s tick => ping 3
			3s tick => ping 4
			4s tick => ping 5
			4.1s pong 1              | proven=1s deadline=4.25s recv=2 pong=4.1s last=4.1s
			4.25s tick => dead
		`},
		{"a pong after the deadline does not revive a peer not yet ticked dead", Config{}, `
			0s tick => ping 1
			3.4s pong 1              | recv=1 deadline=3.25s
			3.4s tick => dead
		`},
		{"caller ticks late: no burst of pings", Config{}, `
			0s tick => ping 1
			10ms pong 1
			2.4s frame
			2.5s tick => ping 2      | next=3.25s sent=2
			2.51s pong 2             | deadline=5.75s next=3.5s
			3.4s tick => none
			3.5s tick => ping 3      | next=4.5s
		`},
		{"shorter interval: peer gets the new DeadAfter from the change", Config{}, `
			0s tick => ping 1
			10ms pong 1              | deadline=3.25s
			500ms interval 200ms     | next=200ms deadline=1.15s
			500ms tick => ping 2     | next=700ms
			700ms tick => ping 3
			900ms tick => ping 4
			1.1s tick => ping 5      | next=1.15s
			1.15s tick => dead
		`},
		{"shorter interval keeps an earlier old deadline", Config{}, `
			0s tick => ping 1
			1s tick => ping 2
			3s interval 200ms        | deadline=3.25s
			3.25s tick => dead
		`},
		{"shorter interval with a live peer", Config{}, `
			0s tick => ping 1
			10ms pong 1
			500ms interval 200ms
			500ms tick => ping 2
			510ms pong 2             | deadline=1.15s
			700ms tick => ping 3
			710ms pong 3             | deadline=1.35s last=10ms
		`},
		{"longer interval", Config{}, `
			0s tick => ping 1
			10ms pong 1
			1s tick => ping 2
			1.01s pong 2             | deadline=4.25s
			1.5s interval 5s         | next=6s deadline=17.25s
			2s tick => none          | missed=0
			6s tick => ping 3        | next=11s
		`},
		{"interval is clamped", Config{}, `
			0s tick => ping 1
			0s interval 1ms          | next=100ms deadline=325ms
			0s interval 1h           | next=1m0s
		`},
		{"one miss allowed", Config{Misses: 1, Interval: 100 * time.Millisecond}, `
			0s tick => ping 1        | deadline=125ms
			5ms pong 1               | deadline=125ms
			100ms tick => ping 2     | next=125ms
			120ms pong 2             | deadline=225ms
			200ms tick => ping 3     | next=225ms
			225ms tick => dead
		`},
	} {
		t.Run(tc.name, func(t *testing.T) { runScript(t, tc.cfg, tc.script) })
	}
}

// TestForgottenPongIsNoLife: a pong for a ping too old to be remembered
// (sent long before DeadAfter) counts as a frame only: no RTT sample, no
// later deadline.
func TestForgottenPongIsNoLife(t *testing.T) {
	h := New(Config{}, t0)
	var first int64
	var now time.Time
	for i := range 40 {
		now = t0.Add(time.Duration(i) * time.Second)
		p, dead := h.Tick(now)
		if dead || p == nil {
			t.Fatalf("tick %d: ping %v dead %v", i, p, dead)
		}
		if p.Seq == 1 {
			first = p.SentUnixNano
		}
		if i < 38 {
			h.OnPong(Answer(*p), now.Add(time.Millisecond))
		}
	}
	before := h.Stats()
	now = now.Add(500 * time.Millisecond)
	h.OnPong(Pong{Seq: 1, EchoUnixNano: first}, now)
	st := h.Stats()
	if !st.LastSeen.Equal(now) || st.Received != before.Received || st.LastRTT != before.LastRTT || !st.Deadline.Equal(before.Deadline) {
		t.Errorf("old pong: LastSeen %v Received %d LastRTT %v Deadline %v; want %v %d %v %v",
			rel(st.LastSeen), st.Received, st.LastRTT, rel(st.Deadline), rel(now), before.Received, before.LastRTT, rel(before.Deadline))
	}
}

// TestRTTConverges: with jittery but steady pongs the heartbeat stays
// alive, and SRTT settles near the mean RTT.
func TestRTTConverges(t *testing.T) {
	h := New(Config{}, t0)
	for i := range 300 {
		now := t0.Add(time.Duration(i) * time.Second)
		p, dead := h.Tick(now)
		if dead || p == nil {
			t.Fatalf("tick %d: ping %v dead %v", i, p, dead)
		}
		rtt := 10 * time.Millisecond
		if i%2 == 1 {
			rtt = 30 * time.Millisecond
		}
		h.OnPong(Answer(*p), now.Add(rtt))
	}
	st := h.Stats()
	if st.SRTT < 18*time.Millisecond || st.SRTT > 22*time.Millisecond {
		t.Errorf("SRTT = %v, want about 20ms", st.SRTT)
	}
	if st.RTTVar < 5*time.Millisecond || st.RTTVar > 15*time.Millisecond {
		t.Errorf("RTTVar = %v, want about 10ms", st.RTTVar)
	}
	if st.Sent != 300 || st.Received != 300 || st.Missed != 0 || st.Dead {
		t.Errorf("stats %+v", st)
	}
}

// peer simulates the far end for the detection tests. Frames take rtt/2
// each way. The peer answers each ping on arrival and, with phase >= 0,
// sends its own pings every Interval from phase on. A frame crosses only
// if it leaves before the cut of its direction: out (ours to the peer)
// and in (the peer's to us). Zero means never cut.
type peer struct {
	rtt     time.Duration
	phase   time.Duration // < 0: the peer sends no pings of its own
	out, in time.Time
}

func crosses(departs, cut time.Time) bool { return cut.IsZero() || departs.Before(cut) }

// run drives h at NextTick until it reports dead (or fails the test at
// limit). It returns when the peer was declared dead and the send time of
// the newest ping whose pong arrived.
func (p peer) run(t *testing.T, h *Heartbeat, limit time.Time) (deadAt, proven time.Time) {
	t.Helper()
	type arrival struct {
		at   time.Time
		sent time.Time
		pong *Pong
	}
	var inflight []arrival
	nextPeerPing := t0.Add(p.phase)
	proven = t0
	for {
		next, idx := h.NextTick(), -1
		for i, a := range inflight {
			if !a.at.After(next) {
				next, idx = a.at, i
			}
		}
		if p.phase >= 0 && !nextPeerPing.After(next) {
			next, idx = nextPeerPing, -2
		}
		if next.After(limit) {
			t.Fatalf("%+v: not dead by %v", p, rel(limit))
		}
		switch idx {
		case -1:
			ping, dead := h.Tick(next)
			if dead {
				return next, proven
			}
			if ping != nil && crosses(next.Add(p.rtt/2), p.out) && crosses(next.Add(p.rtt/2), p.in) {
				inflight = append(inflight, arrival{next.Add(p.rtt), next, &Pong{ping.Seq, ping.SentUnixNano}})
			}
		case -2:
			nextPeerPing = nextPeerPing.Add(h.Interval())
			if crosses(next, p.in) {
				h.OnPing(Ping{}, next.Add(p.rtt/2)) // its pong goes nowhere we care about
			}
		default:
			a := inflight[idx]
			inflight = append(inflight[:idx], inflight[idx+1:]...)
			h.OnPong(*a.pong, a.at)
			if a.sent.After(proven) {
				proven = a.sent
			}
		}
	}
}

// TestDetectionBound: whichever direction is cut, or both, and whatever the
// phase of the cut within the ping cycle (10 ms steps), the peer is
// declared dead exactly DeadAfter after the send time of the newest
// answered ping, which is at most DeadAfter (within the 3.5 s budget) and
// at least DeadAfter - Interval - RTT after the cut. The peer's own pings
// keep arriving when only our direction is cut and change nothing.
func TestDetectionBound(t *testing.T) {
	const budget = 3500 * time.Millisecond
	cfg := Config{}
	for _, p := range []peer{
		{rtt: 20 * time.Millisecond, phase: -1},
		{rtt: 2 * time.Millisecond, phase: 500 * time.Millisecond},
		{rtt: 300 * time.Millisecond, phase: 130 * time.Millisecond},
	} {
		for _, dir := range []string{"both", "out", "in"} {
			worst, best := time.Duration(0), time.Hour
			for off := time.Duration(0); off < time.Second; off += 10 * time.Millisecond {
				cut := t0.Add(10*time.Second + off)
				q := p
				switch dir {
				case "both":
					q.out, q.in = cut, cut
				case "out":
					q.out = cut
				case "in":
					q.in = cut
				}
				deadAt, proven := q.run(t, New(cfg, t0), cut.Add(time.Minute))
				if got := deadAt.Sub(proven); got != cfg.DeadAfter() {
					t.Fatalf("%+v cut %s at offset %v: dead %v after the newest answered ping was sent, want exactly %v", p, dir, off, got, cfg.DeadAfter())
				}
				lat := deadAt.Sub(cut)
				worst, best = max(worst, lat), min(best, lat)
			}
			t.Logf("rtt %v, peer pings at phase %v, cut %s: detection %v .. %v after the cut", p.rtt, p.phase, dir, best, worst)
			if worst > cfg.DeadAfter() || worst > budget {
				t.Errorf("rtt %v cut %s: worst detection %v exceeds DeadAfter %v", p.rtt, dir, worst, cfg.DeadAfter())
			}
			if best < cfg.DeadAfter()-cfg.WithDefaults().Interval-p.rtt {
				t.Errorf("rtt %v cut %s: detection as early as %v: too eager", p.rtt, dir, best)
			}
		}
	}
}

// TestOneWayCutStateMachine: the peer's pings (and any other frame) keep
// arriving but none of our pings is answered: dead exactly DeadAfter after
// the last answered ping was sent; while pongs come, the peer lives.
func TestOneWayCutStateMachine(t *testing.T) {
	cfg := Config{}
	h := New(cfg, t0)
	var lastProven time.Time
	for i := range 10 { // healthy: pongs after 5 ms
		now := t0.Add(time.Duration(i) * time.Second)
		p, dead := h.Tick(now)
		if dead || p == nil {
			t.Fatalf("healthy tick %d: ping %v dead %v", i, p, dead)
		}
		h.OnPing(Ping{Seq: uint64(i + 1)}, now.Add(300*time.Millisecond))
		h.OnPong(Answer(*p), now.Add(5*time.Millisecond))
		lastProven = now
	}
	// From 10 s: the peer's pings and frames arrive every 100 ms, our pings
	// are never answered (either direction cut: to the state machine it is
	// the same).
	for now := t0.Add(10 * time.Second); ; now = now.Add(10 * time.Millisecond) {
		if now.Sub(t0)%(100*time.Millisecond) == 0 {
			h.OnPing(Ping{Seq: 99}, now)
			h.OnFrame(now)
		}
		p, dead := h.Tick(now)
		if dead {
			if got := now.Sub(lastProven); got != cfg.DeadAfter() {
				t.Fatalf("dead %v after the last answered ping, want %v", got, cfg.DeadAfter())
			}
			break
		}
		if p == nil && now.Sub(t0)%time.Second == 0 {
			t.Fatalf("no ping at %v", rel(now))
		}
		if now.Sub(lastProven) > cfg.DeadAfter() {
			t.Fatalf("still alive at %v, %v after the last answered ping", rel(now), now.Sub(lastProven))
		}
	}
	if st := h.Stats(); !st.Dead || st.LastSeen.Sub(lastProven) < 3*time.Second {
		t.Errorf("stats %+v: want dead with frames seen after the last pong", st)
	}
}

// TestNoFalseDeath: a healthy peer with two pongs in a row lost, over and
// over, is never declared dead.
func TestNoFalseDeath(t *testing.T) {
	h := New(Config{}, t0)
	for i := range 600 {
		now := t0.Add(time.Duration(i) * time.Second)
		p, dead := h.Tick(now)
		if dead {
			t.Fatalf("declared dead at %v", rel(now))
		}
		if i%3 == 0 && p != nil { // pongs 2 and 3 of every 3 are lost
			h.OnPong(Answer(*p), now.Add(200*time.Millisecond))
		}
	}
}

func BenchmarkTickPong(b *testing.B) {
	h := New(Config{}, t0)
	now := t0
	for b.Loop() {
		p, dead := h.Tick(now)
		if dead || p == nil {
			b.Fatal("no ping")
		}
		h.OnPong(Answer(*p), now.Add(time.Millisecond))
		now = now.Add(time.Second)
	}
}
