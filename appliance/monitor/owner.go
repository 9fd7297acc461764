package monitor

import (
	"context"
	"errors"
	"sync"
)

// errStopped: the core's owner has stopped (the monitor is closing).
var errStopped = errors.New("monitor: stopped")

// parts owns the monitor's long-running goroutines, each a
// Serve(ctx) error (errgroup's shape, in a few lines: golang.org/x/sync
// is not a direct dependency). stop cancels them and waits; a part that
// returns an error while the monitor runs reports it to onErr.
type parts struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // orders Go's check and Add before stop's cancel
	wg     sync.WaitGroup
	onErr  func(error)
}

func newParts(onErr func(error)) *parts {
	ctx, cancel := context.WithCancel(context.Background())
	return &parts{ctx: ctx, cancel: cancel, onErr: onErr}
}

// Go runs serve as a part, unless the parts are stopping; it reports
// whether it did. Any goroutine may call it (ConnectLocal's callers are
// the page host's): the check and the Add happen before stop cancels, so
// the WaitGroup never grows from zero while stop waits.
func (g *parts) Go(serve func(context.Context) error) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx.Err() != nil {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := serve(g.ctx); err != nil && g.ctx.Err() == nil {
			g.onErr(err)
		}
	}()
	return true
}

// stop cancels every part and waits for them. It is idempotent.
func (g *parts) stop() {
	g.mu.Lock()
	g.cancel()
	g.mu.Unlock()
	g.wg.Wait()
}

// coreOwner is the one goroutine that touches the Core and the peer
// table: every step (with the carrying out of its effects, applier.go)
// and every read of them is a function posted to it, run in arrival
// order. It never waits on a peer, the media engine or the LED: those
// effects are handed to outboxes and workers that never block it.
type coreOwner struct {
	reqs chan coreReq
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

type coreReq struct {
	fn   func()
	done chan struct{} // nil: nobody waits
}

// startCoreOwner starts the owner; stop ends it.
func startCoreOwner() *coreOwner {
	o := &coreOwner{reqs: make(chan coreReq), quit: make(chan struct{}), done: make(chan struct{})}
	go o.serve()
	return o
}

func (o *coreOwner) serve() {
	defer close(o.done)
	for {
		select {
		case <-o.quit:
			return
		case r := <-o.reqs:
			r.fn()
			if r.done != nil {
				close(r.done)
			}
		}
	}
}

// run runs fn on the owner and waits for it; errStopped once the owner
// has stopped.
func (o *coreOwner) run(fn func()) error {
	r := coreReq{fn: fn, done: make(chan struct{})}
	if err := o.give(r); err != nil {
		return err
	}
	<-r.done
	return nil
}

// post hands fn to the owner without waiting for it to run (only for
// the owner to take it); errStopped once the owner has stopped.
func (o *coreOwner) post(fn func()) error { return o.give(coreReq{fn: fn}) }

func (o *coreOwner) give(r coreReq) error {
	select {
	case o.reqs <- r:
		return nil
	case <-o.done:
		return errStopped
	}
}

// stop ends the owner and waits for it. It is idempotent.
func (o *coreOwner) stop() {
	o.once.Do(func() { close(o.quit) })
	<-o.done
}

// worker carries out jobs one at a time, in the order given, on its own
// goroutine. give never blocks (the queue grows: the jobs are effects,
// at most a few per step), so the owner hands it the slow effects (a
// WebRTC answer, an LED write, an mDNS update) and goes on.
type worker struct {
	mu       sync.Mutex // guards jobs and stopping: the queue only
	jobs     []func()
	stopping bool
	wake     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func startWorker() *worker { return startWorkerIn(nil) }

// startWorkerIn starts a worker counted in wg (nil: not counted) until
// it ends.
func startWorkerIn(wg *sync.WaitGroup) *worker {
	w := &worker{wake: make(chan struct{}, 1), done: make(chan struct{})}
	if wg != nil {
		wg.Add(1)
	}
	go func() {
		if wg != nil {
			defer wg.Done()
		}
		w.serve()
	}()
	return w
}

// give queues job; after stop (or finish) it is refused: false.
func (w *worker) give(job func()) bool {
	w.mu.Lock()
	ok := !w.stopping
	if ok {
		w.jobs = append(w.jobs, job)
	}
	w.mu.Unlock()
	defer w.poke()
	return ok
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) serve() {
	defer close(w.done)
	for {
		w.mu.Lock()
		jobs, stopping := w.jobs, w.stopping
		w.jobs = nil
		w.mu.Unlock()
		for _, job := range jobs {
			job()
		}
		if len(jobs) == 0 {
			if stopping {
				return
			}
			<-w.wake
		}
	}
}

// stop carries out the jobs already given, then ends the worker and
// waits for it. It is idempotent.
func (w *worker) stop() {
	w.finish()
	<-w.done
}

// finish is stop without the wait: the worker ends once it has carried
// out the jobs already given.
func (w *worker) finish() {
	w.once.Do(func() {
		w.mu.Lock()
		w.stopping = true
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	})
}

// settle waits until the jobs given before it are carried out.
func (w *worker) settle() {
	done := make(chan struct{})
	w.give(func() { close(done) })
	select {
	case <-done:
	case <-w.done:
	}
}
