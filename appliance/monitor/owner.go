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
	wg     sync.WaitGroup
	onErr  func(error)
}

func newParts(onErr func(error)) *parts {
	ctx, cancel := context.WithCancel(context.Background())
	return &parts{ctx: ctx, cancel: cancel, onErr: onErr}
}

// Go runs serve as a part, unless the parts are stopping. Call it from a
// running part or before stop: a WaitGroup may not grow from zero while
// stop waits.
func (g *parts) Go(serve func(context.Context) error) {
	if g.ctx.Err() != nil {
		return
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := serve(g.ctx); err != nil && g.ctx.Err() == nil {
			g.onErr(err)
		}
	}()
}

// stop cancels every part and waits for them. It is idempotent.
func (g *parts) stop() {
	g.cancel()
	g.wg.Wait()
}

// coreOwner is the one goroutine that touches the Core: every step and
// every read of it is a function posted to it, run in arrival order.
// Posters carry out the effects a step returns (outside the owner, so a
// slow send, append or WebRTC answer does not hold up the others).
type coreOwner struct {
	reqs chan coreReq
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

type coreReq struct {
	fn   func()
	done chan struct{}
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
			close(r.done)
		}
	}
}

// run runs fn on the owner and waits for it; errStopped once the owner
// has stopped.
func (o *coreOwner) run(fn func()) error {
	r := coreReq{fn: fn, done: make(chan struct{})}
	select {
	case o.reqs <- r:
	case <-o.done:
		return errStopped
	}
	<-r.done
	return nil
}

// stop ends the owner and waits for it. It is idempotent.
func (o *coreOwner) stop() {
	o.once.Do(func() { close(o.quit) })
	<-o.done
}
