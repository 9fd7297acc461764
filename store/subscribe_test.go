package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestSubscribeConcurrent runs several appenders and several subscribers
// that start at different seqs, some before the appends and some while
// they run. Every subscriber must see every event after its start, in
// order, once, and each appender's events in the order it appended them.
func TestSubscribeConcurrent(t *testing.T) {
	const appenders, perAppender = 4, 150
	const total = appenders * perAppender
	s := openTest(t, "", Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	subscribe := func(from uint64) {
		sub := s.Subscribe(from)
		wg.Go(func() {
			defer sub.Close()
			lastOf := map[int]int{} // appender -> last index seen
			for want := from + 1; want <= total; want++ {
				e, err := sub.Next(ctx)
				if err != nil {
					t.Errorf("subscriber from %d: waiting for %d: %v", from, want, err)
					return
				}
				if e.Seq != want {
					t.Errorf("subscriber from %d: got seq %d, want %d", from, e.Seq, want)
					return
				}
				var a, i int
				fmt.Sscanf(e.Payload.(ConnectionOpened).ConnID, "%d-%d", &a, &i)
				if last, ok := lastOf[a]; ok && i <= last {
					t.Errorf("subscriber from %d: appender %d's event %d after %d", from, a, i, last)
				}
				lastOf[a] = i
			}
		})
	}

	subscribe(0)
	subscribe(0)
	watch := s.Subscribe(0)
	defer watch.Close()
	for a := range appenders {
		wg.Go(func() {
			for i := range perAppender {
				if _, err := s.Append(ctx, ConnectionOpened{ConnID: fmt.Sprintf("%d-%d", a, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Start more subscribers while the appends run: from the past, and
	// from "now".
	for _, at := range []uint64{100, 250, 400} {
		for {
			e, err := watch.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if e.Seq == at {
				break
			}
		}
		subscribe(at / 2)
		subscribe(s.State().Seq)
	}
	wg.Wait()
}

func TestSubscribeEnds(t *testing.T) {
	s := openTest(t, "", Options{})
	mustAppend(t, s, TrustReset{})

	sub := s.Subscribe(0)
	if e, err := sub.Next(context.Background()); err != nil || e.Seq != 1 {
		t.Fatalf("Next = %v, %v", e, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sub.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled context: %v", err)
	}

	// Close from another goroutine wakes a waiting Next.
	done := make(chan error)
	go func() {
		_, err := sub.Next(context.Background())
		done <- err
	}()
	sub.Close()
	sub.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Next after sub.Close: %v", err)
	}

	// Closing the store wakes a waiting Next too.
	sub = s.Subscribe(1)
	go func() {
		_, err := sub.Next(context.Background())
		done <- err
	}()
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Next after store Close: %v", err)
	}
}

// TestSubscribeFromFuture checks that a subscription starting past the
// end of the log waits for, and delivers only, the events after fromSeq.
func TestSubscribeFromFuture(t *testing.T) {
	s := openTest(t, "", Options{})
	sub := s.Subscribe(3)
	defer sub.Close()
	got := make(chan uint64)
	go func() {
		e, err := sub.Next(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- e.Seq
	}()
	for range 4 {
		mustAppend(t, s, TrustReset{})
	}
	if seq := <-got; seq != 4 {
		t.Errorf("first event = seq %d, want 4", seq)
	}
}
